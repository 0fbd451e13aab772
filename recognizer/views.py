from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

# Shown side by side on the page, in this order.
MODEL_TITLES = (("keras", "Keras CNN"), ("custom", "Numpy network"))


# The page posts to the API with the X-CSRFToken header, so the csrftoken cookie must be set
# even though the template renders no form.
@ensure_csrf_cookie
def index(request):
    return render(request, "recognizer/index.html", {"models": MODEL_TITLES})
