"""The one module that reads private attributes of the libraries' objects (``_meta`` aside), each checked against the
library version it was written for, so an upgrade fails loudly in ``tests/domain/test_adapters.py`` instead of
quietly changing behaviour.

- ``http_request``: django-axes counts failed token logins on Django's ``HttpRequest`` (it sets ``axes_*`` attributes
  that its middleware reads afterwards), but DRF authenticators get DRF's ``Request``, which keeps the ``HttpRequest``
  as ``_request`` and offers no public accessor.
"""

import rest_framework
from rest_framework.request import Request

WRITTEN_FOR = {"djangorestframework": "3.18"}


def versions_match():
    """True when the installed libraries are the versions these adapters were written for (major.minor)."""
    return rest_framework.__version__.startswith(WRITTEN_FOR["djangorestframework"])


def http_request(request):
    """Django's ``HttpRequest`` under DRF's ``Request`` (the object itself when it is already one)."""
    return request._request if isinstance(request, Request) else request
