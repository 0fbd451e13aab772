"""The API's own exception: any status and code, in the one error shape (``errors.api_exception_handler``)."""

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException


class ApiError(APIException):
    """An error with its own status and code, for when 400 is the wrong answer."""

    def __init__(self, code, detail, status_code=status.HTTP_400_BAD_REQUEST):
        super().__init__(detail=detail, code=code)
        self.status_code = status_code


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"

    def __init__(self):
        limit = settings.MAX_UPLOAD_BYTES
        super().__init__(f"The request body is over the {limit}-byte limit.", self.default_code)
