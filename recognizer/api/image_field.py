"""The image field of the predict doors: a data URL, plain base64 text or an uploaded file -> (bytes, content type).

Only the transport is decoded here; what the bytes hold is judged by ``domain.images``.
"""

import base64
import binascii
import re

from django.core.files.uploadedfile import UploadedFile
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers, status

from recognizer.api.exceptions import ApiError
from recognizer.domain import errors, images
from recognizer.ml import preprocess

DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[\w.+-]+(=[\w.+-]+)?)*),(?P<data>.*)$", re.S)


def unsupported(mime):
    return ApiError(
        "unsupported_media_type",
        f"Images of type {mime} are not supported; send a PNG, JPEG or WebP.",
        status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    )


def png_data_url(png):
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


@extend_schema_field(
    {
        "type": "string",
        "description": "A data URL (data:image/png;base64,...) or plain base64 of a PNG, JPEG or WebP; "
        "in multipart, a file.",
    }
)
class ImageField(serializers.Field):
    """Base64 / data URL text, or an uploaded file; gives ``(bytes, content_type)``."""

    default_error_messages = {
        "empty_image": "The image is empty.",
        "invalid": "Send the image as a data URL, plain base64 text or a file.",
        "not_base64": "The image is not valid base64.",
        "invalid_data_url": "The data URL is malformed; expected data:image/png;base64,....",
    }

    def to_internal_value(self, data):
        if isinstance(data, UploadedFile):
            raw = data.read()
        elif isinstance(data, str):
            raw = self.decode_text(data)
        else:
            self.fail("invalid")
        if not raw:
            self.fail("empty_image")
        try:
            return raw, images.sniff(raw)
        except errors.ImageRejected as exc:
            if exc.code == "unsupported_media_type":
                raise ApiError(exc.code, exc.message, status.HTTP_415_UNSUPPORTED_MEDIA_TYPE) from None
            raise serializers.ValidationError(exc.message, code=exc.code) from None

    def decode_text(self, text):
        text = text.strip()
        if not text:
            self.fail("empty_image")
        if text[:5].lower() == "data:":
            match = DATA_URL.match(text)
            if not match:
                self.fail("invalid_data_url")
            mime = (match["mime"] or "").lower()
            if mime and not (mime in preprocess.IMAGE_TYPES or mime == "application/octet-stream"):
                raise unsupported(mime)
            if ";base64" not in match["params"].lower():
                self.fail("invalid_data_url")
            text = match["data"]
        if not len(text) % 4:
            # Plain standard base64 decodes as it is: validate=True succeeds only when the clean-up below would change
            # nothing, so the scan is skipped for what clients usually send.
            try:
                return base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                pass
        # Line breaks and spaces are common in pasted base64; URL-safe alphabet too.
        text = re.sub(r"\s+", "", text).replace("-", "+").replace("_", "/")
        text += "=" * (-len(text) % 4)
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise serializers.ValidationError(self.error_messages["not_base64"], code="not_base64") from None

    def to_representation(self, value):
        return png_data_url(value)
