"""Counting a list without scanning it: exact up to a bound, PostgreSQL's estimate above (the admin's and the API's
lists at ten million drawings, issue 25)."""

import json

from django.db import connections

EXACT_COUNT_UP_TO = 10_000


def count_of(queryset, exact=False, up_to=None):
    """``(count, exact)``: a COUNT over at most ``up_to`` (``EXACT_COUNT_UP_TO``) + 1 rows; above that, on PostgreSQL,
    the planner's estimate of the rows the query returns. ``exact=True`` counts them all whatever it costs."""
    up_to = EXACT_COUNT_UP_TO if up_to is None else up_to
    if exact:
        return queryset.count(), True
    capped = queryset.order_by()[: up_to + 1].count()
    if capped <= up_to:
        return capped, True
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return queryset.count(), True
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return max(int(plan[0]["Plan"]["Plan Rows"]), capped), False
