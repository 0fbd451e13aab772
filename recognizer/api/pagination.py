"""Page-number pagination whose page size a client may choose, within bounds."""

from rest_framework import exceptions
from rest_framework.pagination import PageNumberPagination
from rest_framework.settings import api_settings

from recognizer import limits


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500

    @property
    def page_size(self):
        return api_settings.PAGE_SIZE  # read per request, so settings changes apply

    def get_page_size(self, request):
        value = request.query_params.get(self.page_size_query_param)
        if value is None:
            return self.page_size
        # A wrong page size is an error, not silently the default.
        try:
            return limits.parse_int(value, 1, self.max_page_size)
        except ValueError:
            raise exceptions.ValidationError(
                {"page_size": [f"Must be an integer from 1 to {self.max_page_size}."]}, code="invalid"
            ) from None
