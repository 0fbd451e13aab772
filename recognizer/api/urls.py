"""URLs of the REST API, mounted at /api/ (namespace "api")."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny
from rest_framework.routers import SimpleRouter

from recognizer.api import models_views, views
from recognizer.api.errors import not_found
from recognizer.api.predict_batch import BatchPredictView

app_name = "api"

router = SimpleRouter()
router.register("drawings", views.DrawingViewSet, basename="drawing")

# The two pictures end in .png, not a slash, so they are spelled out here.
image = views.DrawingViewSet.as_view({"get": "image"}, detail=True, basename="drawing")
model_input = views.DrawingViewSet.as_view({"get": "input"}, detail=True, basename="drawing")

urlpatterns = [
    path("predict/", views.PredictView.as_view(), name="predict"),
    path("predict/batch/", BatchPredictView.as_view(), name="predict-batch"),
    path("accuracy/", views.AccuracyView.as_view(), name="accuracy"),
    path("models/", models_views.ModelVersionsView.as_view(), name="model-versions"),  # the lifecycle (issue 26)
    path("models/train/", models_views.TrainView.as_view(), name="models-train"),
    path("models/train/<int:pk>/", models_views.TrainJobView.as_view(), name="models-train-job"),
    re_path(
        r"^models/(?P<name>[^/]+)/versions/(?P<version>[^/]+)/(?P<action>shadow|promote|retire)/?$",
        models_views.VersionActionView.as_view(),
        name="model-version-action",
    ),
    re_path(r"^models/(?P<name>[^/]+)/rollback/?$", models_views.RollbackView.as_view(), name="model-rollback"),
    re_path(r"^drawings/(?P<pk>-?[0-9]+)/image\.png$", image, name="drawing-image"),
    re_path(r"^drawings/(?P<pk>-?[0-9]+)/input\.png$", model_input, name="drawing-input"),
    *[p for p in router.urls if p.name not in ("drawing-image", "drawing-input")],
    path("schema/", SpectacularAPIView.as_view(permission_classes=[AllowAny]), name="schema"),
    # Split mode: the settings script is its own URL (?script), so the page needs no inline script (csp.py).
    path(
        "docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema", permission_classes=[AllowAny]), name="docs"
    ),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema", permission_classes=[AllowAny]), name="redoc"),
    re_path(r"", not_found),  # last: anything else under /api/ is a JSON 404
]
