from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("recognizer.api.urls")),
    path("", include("recognizer.api.protocol_urls")),  # /v2/ (KServe v2), /v1/ (TF Serving), /metrics
    path("", include("recognizer.urls")),
]
