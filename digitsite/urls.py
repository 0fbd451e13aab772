from django.contrib import admin
from django.urls import include, path

from recognizer import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/", include("recognizer.api.urls")),
    path("", include("recognizer.api.protocol_urls")),  # /v2/ (KServe v2), /v1/ (TF Serving), /metrics
    path("", include("recognizer.urls")),
]

# JSON under /api/, and a 503 (not a 500) when the database or Redis is unreachable.
handler400 = "recognizer.unavailable.bad_request"
handler500 = "recognizer.unavailable.server_error"
