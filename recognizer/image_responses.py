"""How a stored drawing's pictures are served, the same from the API and the admin.

A stored ``image_type`` is whatever the image was accepted as; should anything else ever be in the column (an
older row, a hand edit), a browser must not render it: an SVG or HTML file served inline runs its script on our
origin. So only the formats the app accepts are shown inline; anything else is an ``application/octet-stream``
download, and every answer is sandboxed and never content-sniffed.
"""

from django.http import HttpResponse

from recognizer.ml.preprocess import IMAGE_TYPES


def image_response(data, content_type="image/png"):
    """``data`` served inline if ``content_type`` is PNG, JPEG or WebP, else as an inert download."""
    inline = content_type in IMAGE_TYPES
    response = HttpResponse(data, content_type=content_type if inline else "application/octet-stream")
    if not inline:
        response["Content-Disposition"] = "attachment"
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
