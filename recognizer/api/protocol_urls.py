"""The standard doors, mounted at the site's root: Open Inference Protocol v2 (/v2/), TF Serving REST (/v1/) and
Prometheus (/metrics)."""

from django.urls import path, re_path

from recognizer.api import monitoring, tfserving, v2

MODEL = r"(?P<name>[^/]+)"  # any name reaches the view: an unknown one gets the protocol's JSON 404

urlpatterns = [
    path("v2", v2.ServerMetadataView.as_view(), name="v2-server-metadata"),
    path("v2/health/live", v2.LiveView.as_view(), name="v2-live"),
    path("v2/health/ready", v2.ReadyView.as_view(), name="v2-ready"),
    re_path(rf"^v2/models/{MODEL}$", v2.ModelMetadataView.as_view(), name="v2-model-metadata"),
    re_path(rf"^v2/models/{MODEL}/ready$", v2.ModelReadyView.as_view(), name="v2-model-ready"),
    re_path(rf"^v2/models/{MODEL}/infer$", v2.InferView.as_view(), name="v2-model-infer"),
    re_path(
        rf"^v2/models/{MODEL}/versions/(?P<version>[^/]+)/infer$",
        v2.VersionInferView.as_view(),
        name="v2-version-infer",
    ),
    re_path(
        rf"^v1/models/{MODEL}:predict$", tfserving.TFServingPredictView.as_view(), name="tfserving-predict"
    ),  # first
    re_path(rf"^v1/models/{MODEL}$", tfserving.ModelStatusView.as_view(), name="tfserving-model-status"),
    path("metrics", monitoring.MetricsView.as_view(), name="metrics"),
]
