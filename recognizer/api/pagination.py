"""Pages of the API's lists that cost the same at any depth, and a count that never scans the table.

* ``?cursor=`` (the ``next``/``previous`` links): keyset pages in the list's order, newest first (``created``, then
  ``id``: the ``drawing_created_id_idx`` index), so page 20,000 reads as little as page 1.
* ``?page=N`` still works for the first pages (up to ``MAX_PAGE_ROWS`` rows deep), so clients written for page
  numbers go on working; deeper than that is a 400 that points to the ``next`` link.
* ``count`` is exact up to ``EXACT_COUNT_UP_TO`` (a COUNT over at most that many rows); above that it is
  PostgreSQL's estimate and ``count_exact`` is false. ``?count=true`` asks for the exact count whatever it costs.
"""

import base64
import binascii
import json
from collections import OrderedDict

from django.core.paginator import InvalidPage, Paginator
from django.db.models import Q
from django.utils.dateparse import parse_datetime
from rest_framework import exceptions
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.utils.urls import remove_query_param, replace_query_param

from recognizer import limits
from recognizer.staff import counting

EXACT_COUNT_UP_TO = 10_000
MAX_PAGE_ROWS = 10_000  # ?page=N reaches this many rows deep; the cursor goes anywhere
ORDER = ("-created", "-id")  # the lists' order (Drawing.Meta.ordering), which the cursor follows


def count_of(queryset, exact=False):
    """(count, exact): exact up to ``EXACT_COUNT_UP_TO`` rows, else the planner's estimate on PostgreSQL."""
    return counting.count_of(queryset, exact, up_to=EXACT_COUNT_UP_TO)


class Pagination(BasePagination):
    page_query_param = "page"
    page_size_query_param = "page_size"
    cursor_query_param = "cursor"
    count_query_param = "count"
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

    # -- cursors: "n" (rows after this one) or "p" (rows before it), with the row's created and id

    @staticmethod
    def encode(direction, row):
        raw = json.dumps([direction, row.created.isoformat(), row.pk]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def decode(self, value):
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            direction, created, pk = json.loads(raw)
            created = parse_datetime(created)
            if direction not in ("n", "p") or created is None or not isinstance(pk, int) or isinstance(pk, bool):
                raise ValueError
            limits.parse_int(pk, -limits.MAX_ID, limits.MAX_ID)
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, json.JSONDecodeError):
            raise exceptions.ValidationError({"cursor": ["Not a cursor this API gave."]}, code="invalid") from None
        return direction, created, pk

    def paginate_queryset(self, queryset, request, view=None):
        self.request, self.size = request, self.get_page_size(request)
        params = request.query_params
        if self.cursor_query_param in params and self.page_query_param in params:
            raise exceptions.ValidationError({"cursor": ["Give ?cursor= or ?page=, not both."]}, code="invalid")
        want = params.get(self.count_query_param, "").lower()
        if want not in ("", "true", "1", "false", "0"):
            raise exceptions.ValidationError({"count": ["Must be true or false."]}, code="invalid")
        self.exact = want in ("true", "1")
        self.queryset = queryset
        if self.page_query_param in params:
            return self.paginate_by_number(queryset, params[self.page_query_param])
        self.number = None
        ordered = queryset.order_by(*ORDER)
        cursor = params.get(self.cursor_query_param)
        if not cursor:
            rows = list(ordered[: self.size + 1])
            self.has_previous = False
        else:
            direction, created, pk = self.decode(cursor)
            if direction == "n":
                rows = list(ordered.filter(Q(created__lt=created) | Q(created=created, pk__lt=pk))[: self.size + 1])
                self.has_previous = True
            else:
                back = queryset.order_by("created", "id").filter(Q(created__gt=created) | Q(created=created, pk__gt=pk))
                rows = list(back[: self.size + 1])
                self.has_previous = len(rows) > self.size
                rows = list(reversed(rows[: self.size]))
                self.page, self.has_next = rows, True
                return rows
        self.has_next = len(rows) > self.size
        self.page = rows[: self.size]
        return self.page

    def paginate_by_number(self, queryset, value):
        try:
            number = limits.parse_int(value, 1, limits.MAX_ID)
        except ValueError:
            raise exceptions.NotFound("Invalid page.") from None
        if (number - 1) * self.size >= MAX_PAGE_ROWS:
            raise exceptions.ValidationError(
                {"page": [f"?page= reaches {MAX_PAGE_ROWS} rows deep; follow the next links (?cursor=) beyond."]},
                code="invalid",
            )
        self.count, self.count_exact = count_of(queryset, self.exact)
        paginator = Paginator(queryset.order_by(*ORDER), self.size)
        paginator.count = self.count  # the count above: no second COUNT
        try:
            page = paginator.page(number)
        except InvalidPage:
            raise exceptions.NotFound("Invalid page.") from None
        self.number, self.page = number, list(page)
        self.has_previous, self.has_next = page.has_previous(), page.has_next()
        return self.page

    # -- links and the response

    def get_next_link(self):
        if not self.has_next or not self.page:
            return None
        url = self.request.build_absolute_uri()
        if self.number is not None and self.number * self.size < MAX_PAGE_ROWS:
            return replace_query_param(url, self.page_query_param, self.number + 1)
        url = remove_query_param(url, self.page_query_param)
        return replace_query_param(url, self.cursor_query_param, self.encode("n", self.page[-1]))

    def get_previous_link(self):
        if not self.has_previous or not self.page:
            return None
        url = self.request.build_absolute_uri()
        if self.number is not None:
            if self.number == 2:
                return remove_query_param(url, self.page_query_param)
            return replace_query_param(url, self.page_query_param, self.number - 1)
        return replace_query_param(url, self.cursor_query_param, self.encode("p", self.page[0]))

    def get_paginated_response(self, data):
        if self.number is None:
            self.count, self.count_exact = count_of(self.queryset, self.exact)
        return Response(
            OrderedDict(
                [
                    ("count", self.count),
                    ("count_exact", self.count_exact),
                    ("next", self.get_next_link()),
                    ("previous", self.get_previous_link()),
                    ("results", data),
                ]
            )
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["count", "count_exact", "results"],
            "properties": {
                "count": {
                    "type": "integer",
                    "description": f"Rows in the whole list: exact up to {EXACT_COUNT_UP_TO}, else PostgreSQL's "
                    "estimate (count_exact false) unless ?count=true.",
                    "example": 123,
                },
                "count_exact": {"type": "boolean", "description": "Whether count is exact."},
                "next": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "description": "The next page: ?page=N+1 while that is within the first pages, else a ?cursor=.",
                },
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Where a page starts, as the next/previous links give it: the same cost at any depth.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_query_param,
                "required": False,
                "in": "query",
                "description": f"A page number, for the first pages only ({MAX_PAGE_ROWS} rows deep at most; a 400 "
                "beyond): kept for older clients. The next links take over with ?cursor= after that.",
                "schema": {"type": "integer"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Rows per page, 1 to {self.max_page_size}.",
                "schema": {"type": "integer"},
            },
            {
                "name": self.count_query_param,
                "required": False,
                "in": "query",
                "description": f"true: the exact count, whatever it costs (else exact up to {EXACT_COUNT_UP_TO} "
                "and estimated above).",
                "schema": {"type": "boolean"},
            },
        ]
