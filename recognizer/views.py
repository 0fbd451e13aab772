from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from recognizer.drawer import drawer_key, new_drawer_key, remember_drawer
from recognizer.ml.registry import MODELS

# Shown side by side on the page, in this order.
MODEL_TITLES = tuple((spec.name, spec.title) for spec in MODELS)


# The page posts to the API with the X-CSRFToken header, so the csrftoken cookie must be set
# even though the template renders no form.
# The drawer cookie is set here too, so a predict the page retries with its Idempotency-Key
# carries the key the drawing was stored with (a replay never hands out a cookie).
@ensure_csrf_cookie
def index(request):
    response = render(request, "recognizer/index.html", {"models": MODEL_TITLES})
    return response if drawer_key(request) else remember_drawer(response, new_drawer_key())
