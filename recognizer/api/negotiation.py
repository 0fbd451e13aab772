"""The API's content negotiation (installed in ``REST_FRAMEWORK``): never 404/406 on ``?format=`` or an odd Accept
header; the first renderer answers. ``format`` is an export parameter here, not DRF's renderer override."""

from django.http import Http404
from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation


class LenientNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except (Http404, exceptions.NotAcceptable):
            return renderers[0], renderers[0].media_type

    def filter_renderers(self, renderers, format):
        return renderers
