"""Content-Security-Policy on every HTML page (issue 15): scripts only from this origin, nothing inline.

The drawing page, the admin and the staff pages load their scripts from static files (no inline ``<script>``, no
``on*=`` attributes; tests/test_csp.py checks the templates). Styles allow ``'unsafe-inline'`` for the ``style=``
attributes Django's admin and the dashboard's swatches use; no script can run from them. The API's Swagger and Redoc
pages get their own policy: Swagger runs in split mode (its settings script is a separate URL), Redoc builds a worker
from a blob and asks Google Fonts for its typeface. A response that already has a policy (stored images are served
sandboxed) keeps it.
"""

PAGES = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

API_DOCS = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "worker-src 'self' blob:",
        "style-src 'self' 'unsafe-inline' https://fonts.googleapis.com",
        "font-src 'self' data: https://fonts.gstatic.com",
        "img-src 'self' data: https://cdn.redoc.ly",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
    ]
)

DOCS_PATHS = ("/api/docs/", "/api/redoc/")


def policy_for(path):
    return API_DOCS if path.startswith(DOCS_PATHS) else PAGES


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        content_type = response.get("Content-Type", "")
        if "Content-Security-Policy" not in response and content_type.startswith("text/html"):
            response["Content-Security-Policy"] = policy_for(request.path)
        return response
