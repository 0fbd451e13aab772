"""The API's JSON parser: bounded size and nesting (installed in ``REST_FRAMEWORK``).

DRF's own parser hands the body to ``json.load``: 5,000 nested brackets raise RecursionError (a 500), and nothing
bounds how much it reads when the body arrives without a Content-Length Django checked.
"""

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from recognizer import limits
from recognizer.api.exceptions import PayloadTooLarge


class TooDeep(ParseError):
    default_code = "too_deep"


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        data = stream.read(limit + 1) if stream is not None else b""
        if len(data) > limit:
            raise PayloadTooLarge()
        try:
            return limits.loads(data)
        except limits.BadInput as e:
            raise (TooDeep if e.code == "too_deep" else ParseError)(e.detail) from None
