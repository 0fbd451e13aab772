"""``GET /metrics`` for Prometheus: loopback and the addresses ``METRICS_ALLOWED_IPS`` names, nobody else."""

import ipaddress

from django.conf import settings
from django.db.models import Count
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from prometheus_client.core import GaugeMetricFamily
from rest_framework import exceptions, permissions
from rest_framework.views import APIView

from recognizer import metrics
from recognizer.api.errors import error_responses
from recognizer.models import Drawing


def allowed_networks():
    nets = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]
    for entry in settings.METRICS_ALLOWED_IPS:
        nets.append(ipaddress.ip_network(entry, strict=False))
    return nets


def address_allowed(address, networks):
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in net for net in networks if net.version == ip.version)


class ScraperOnly(permissions.BasePermission):
    """The peer, and every address a proxy says the request passed through (X-Forwarded-For), must be allowed: a
    proxy on loopback must not make the public internet look like loopback."""

    def has_permission(self, request, view):
        networks = allowed_networks()
        forwarded = [a for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
        return all(address_allowed(a, networks) for a in [request.META.get("REMOTE_ADDR", ""), *forwarded])


class LabelsCollector:
    """Labels stored, by who gave them (staff, the person who drew it): read from the database at scrape time, so
    every path that writes a label (admin, queue, API, bulk actions) counts."""

    def collect(self):
        family = GaugeMetricFamily("digits_labels_stored", "Drawings with a label, by label source.", labels=["source"])
        counts = dict.fromkeys(Drawing.LabelSource.values, 0)
        rows = Drawing.objects.filter(label__isnull=False).values_list("label_source").annotate(n=Count("id"))
        for source, n in rows.order_by():
            counts[source or "unknown"] = n
        for source, n in sorted(counts.items()):
            family.add_metric([source], n)
        yield family


class MetricsView(APIView):
    authentication_classes = []
    permission_classes = []  # checked in get(), so another method is a 405 whoever asks
    throttle_classes = []

    @extend_schema(
        operation_id="metrics",
        responses={
            (200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="Prometheus text exposition format."),
            **error_responses(403),
        },
        tags=["monitoring"],
        auth=[{}],
    )
    def get(self, request):
        """Prometheus metrics, summed over every gunicorn worker (loopback and METRICS_ALLOWED_IPS only)."""
        if not ScraperOnly().has_permission(request, self):
            raise exceptions.PermissionDenied("Metrics are only for the monitoring hosts.")
        body, content_type = metrics.exposition(LabelsCollector())
        return HttpResponse(body, content_type=content_type)
