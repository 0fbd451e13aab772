"""Which address is the client: the socket's peer, or a hop of X-Forwarded-For when proxies are trusted.

``TRUSTED_PROXIES`` (environment, default 0) is the number of proxies in front of gunicorn that append to
X-Forwarded-For; nginx in ``deploy/`` is one. The client is then the address that many hops from the right: whatever
the client wrote into the header itself sits further left and is ignored, so a spoofed header changes nothing.
Used by the rate limits and by the failed-login lockout (axes).

The chosen hop must be an IP address. With ``TRUSTED_PROXIES`` set higher than the real number of proxies, or with
gunicorn reached directly, that hop is whatever the client wrote; a string that is not an address would otherwise
become the throttle key (a new string each request: no limit) and the address axes stores. Then the connecting
address is used instead.
"""

import ipaddress

from rest_framework.settings import api_settings


def client_ip(request):
    remote = request.META.get("REMOTE_ADDR", "")
    trusted = api_settings.NUM_PROXIES or 0  # REST_FRAMEWORK["NUM_PROXIES"], from TRUSTED_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if not trusted or not forwarded:
        return remote
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    if not hops:
        return remote
    return ip_or_none(hops[-min(trusted, len(hops))]) or remote


def ip_or_none(text):
    """``text`` as an IP address in its canonical form, or None when it is not one."""
    if len(text) > 64:  # the longest IPv6 address with a zone is well under this
        return None
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None
