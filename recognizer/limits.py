"""Bounds on what a client can make the server parse: JSON depth and size, integers, ids, date-times.

Python's own limits show up as a 500 (RecursionError on deep JSON, ValueError past 4,300 digits, OverflowError past
the database column); these checks refuse such input first, as a plain ``BadInput`` the callers turn into a 4xx.
Django-free apart from nothing: used by the API (``api/parsers.py``, serializers) and the staff queue alike.
"""

import json
from datetime import UTC

MAX_JSON_DEPTH = 32  # the API's bodies are two levels deep; 32 leaves room and stays far below the C stack
MAX_ID = 2**63 - 1  # a BigAutoField
MAX_INT_DIGITS = 20  # enough for any id; int() never sees a 4,000-digit string


class BadInput(ValueError):
    def __init__(self, code, detail):
        super().__init__(detail)
        self.code = code
        self.detail = detail


def json_depth_ok(value, limit=MAX_JSON_DEPTH):
    """True when no list or object in ``value`` is nested deeper than ``limit`` (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return False
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return True


def loads(data, max_depth=MAX_JSON_DEPTH):
    """``json.loads`` that refuses nesting deeper than ``max_depth`` and numbers with too many digits."""
    try:
        value = json.loads(data, parse_int=_json_int, parse_constant=_no_constant)
    except RecursionError:
        raise BadInput("too_deep", f"JSON is nested deeper than {max_depth} levels.") from None
    except (ValueError, UnicodeDecodeError) as e:
        if isinstance(e, BadInput):
            raise
        raise BadInput("parse_error", f"JSON parse error - {e}") from None
    if not json_depth_ok(value, max_depth):
        raise BadInput("too_deep", f"JSON is nested deeper than {max_depth} levels.")
    return value


def _json_int(text):
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise BadInput("parse_error", f"JSON parse error - a number has more than {MAX_INT_DIGITS} digits.")
    return int(text)


def _no_constant(name):
    raise BadInput("parse_error", f"JSON parse error - {name} is not valid JSON.")


def parse_int(value, low=None, high=None, *, max_digits=MAX_INT_DIGITS):
    """An int from an int or a decimal string (at most ``max_digits`` digits), within [low, high]; else ValueError."""
    if isinstance(value, bool):
        raise ValueError("not an integer")
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] in "+-" else text
        if not digits.isascii() or not digits.isdigit() or len(digits) > max_digits:
            raise ValueError("not an integer")
        value = int(text)
    if not isinstance(value, int):
        raise ValueError("not an integer")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError("out of range")
    return value


def storable_datetime(value):
    """``value`` if it converts to UTC and back within datetime's range (the database stores UTC), else ValueError."""
    try:
        if value.tzinfo is not None:
            value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range") from None
    return value
