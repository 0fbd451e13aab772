from django.contrib import admin
from django.urls import include, path, re_path

from recognizer import health, unavailable

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/", include("recognizer.api.urls")),
    path("", include("recognizer.api.protocol_urls")),  # /v2/ (KServe v2), /v1/ (TF Serving), /metrics
    re_path(r"^v[12](?:/|$)", unavailable.not_found),  # anything else under /v1/ or /v2/: the protocols' JSON 404
    path("", include("recognizer.urls")),
]

# JSON under /api/, /v1/ and /v2/, and a 503 (not a 500) when the database or Redis is unreachable.
handler400 = "recognizer.unavailable.bad_request"
handler404 = "recognizer.unavailable.not_found"
handler500 = "recognizer.unavailable.server_error"
