"""Input fields the API, the staff pages and the management commands share: bounded digits, ids, dates and strict JSON
types.

They sit below all three, so nothing in ``staff/`` or ``management/`` imports from ``api/``.
"""

import math
from datetime import datetime, time

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from recognizer import limits


class DigitField(serializers.Field):
    """A digit 0-9 given as a JSON integer (or "3" from a form); booleans and 3.5 are refused."""

    default_error_messages = {
        "invalid": "The label must be an integer from 0 to 9.",
        "out_of_range": "The label must be from 0 to 9, got {value}.",
    }

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("invalid")
        try:
            data = limits.parse_int(data)  # bounded: a 4,400-digit string is "invalid", not int()'s ValueError
        except ValueError:
            self.fail("invalid")
        if not 0 <= data <= 9:
            self.fail("out_of_range", value=data)
        return data

    def to_representation(self, value):
        return value


@extend_schema_field(OpenApiTypes.INT)
class LabelField(DigitField):
    pass


class BoundedIntField(serializers.Field):
    """An integer from ``low`` to ``high``, given as a JSON integer or a decimal string of at most
    ``limits.MAX_INT_DIGITS`` digits (``limits.parse_int``); booleans, 1.5 and 4,400-digit strings are refused."""

    default_error_messages = {"invalid": "Must be an integer from {low} to {high}."}

    def __init__(self, low, high, **kwargs):
        self.low, self.high = low, high
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        try:
            return limits.parse_int(data, self.low, self.high)
        except ValueError:
            self.fail("invalid", low=self.low, high=self.high)

    def to_representation(self, value):
        return value


def id_field(**kwargs):
    """A row id: past the BigAutoField range the database driver would overflow (SQLite: OverflowError, a 500)."""
    return BoundedIntField(1, limits.MAX_ID, **kwargs)


class QuietChoiceField(serializers.ChoiceField):
    """A choice whose error names the choices, never the value sent: a value echoed back could be anything, a lone
    surrogate included, which no JSON encoder writes."""

    default_error_messages = {"invalid_choice": "Must be one of: {choices}."}

    def to_internal_value(self, data):
        if data == "" and self.allow_blank:
            return ""
        try:
            return self.choice_strings_to_values[str(data)]
        except (KeyError, TypeError):
            self.fail("invalid_choice", choices=", ".join(self.choice_strings_to_values))


class FlexibleDateTimeField(serializers.DateTimeField):
    """ISO 8601 date-time or plain date (midnight, server time zone)."""

    def to_internal_value(self, value):
        if not isinstance(value, str) or len(value) > 64:
            self.fail("invalid", format="YYYY-MM-DD or ISO 8601")
        try:
            # parse_datetime raises on an offset such as +99:00 or -24:00; the UTC check catches year 1 / 9999
            # edges the database would overflow on.
            moment = parse_datetime(value)
            if moment is None:
                day = parse_date(value)
                if day is not None:
                    return timezone.make_aware(datetime.combine(day, time.min))
            return limits.storable_datetime(super().to_internal_value(value))
        except (ValueError, OverflowError):
            self.fail("invalid", format="YYYY-MM-DD or ISO 8601")


def finite(value):
    if not math.isfinite(value):
        raise serializers.ValidationError("Must be a finite number.", code="invalid")


# JSON types as JSON says them, for bodies that are JSON only (the lifecycle's API): no "0" for false, no "2" for 2.


class StrictBooleanField(serializers.BooleanField):
    """true or false, as JSON says it: no 0, 1, "yes"."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: no true, 2.0 or "2"."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictFloatField(serializers.FloatField):
    """A finite JSON number: no true or "1.5"."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float) or not math.isfinite(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)
