"""A drawing, its image row and its predictions stored by one PostgreSQL statement (issue 17).

The ORM's way (``create`` + ``bulk_create`` in ``atomic()``) is five round trips -- BEGIN, three INSERTs, COMMIT --
plus about 1 ms of Python compiling the SQL and PostgreSQL parsing and planning each statement. Here one
data-modifying ``WITH`` inserts the drawing, its bytes (``DrawingImage``) and every prediction: a single statement is
atomic by itself, so in autocommit it needs no BEGIN/COMMIT, and a unique violation (a reused Idempotency-Key) stores
nothing at all. Its text never changes, so psycopg prepares it once per connection and each call sends only the
parameters, bound on the server. SQLite has no INSERT inside WITH: the models keep the ORM path there.

Only Django's database layer here; the models are passed in (``models.py`` calls this), so there is no import circle.
"""

import threading
from contextlib import nullcontext

import psycopg
from django.db import models, transaction
from psycopg.types.json import Jsonb

_statements = {}  # (drawing, picture and prediction models, number of predictions, key) -> (sql and its fields)


def _columns(model, skip=()):
    return [f for f in model._meta.concrete_fields if not f.primary_key and f.attname not in skip]


def _statement(connection, drawing_model, picture_model, prediction_model, count, match_on):
    key = (drawing_model, picture_model, prediction_model, count, match_on)
    if key not in _statements:
        quote = connection.ops.quote_name
        d_pk = quote(drawing_model._meta.pk.column)
        d_fields = _columns(drawing_model)
        # The picture's primary key is its drawing (a one-to-one): every other column is a parameter.
        i_fields = _columns(picture_model)
        fk = next(f for f in _columns(prediction_model) if f.related_model is drawing_model)
        p_fields = _columns(prediction_model, skip={fk.attname})
        # VALUES rows inside a SELECT take no type from the target table: cast each parameter to its column's type.
        row = "(" + ", ".join(f"%s::{f.cast_db_type(connection)}" for f in p_fields) + ")"
        sql = (
            f"WITH d AS (INSERT INTO {quote(drawing_model._meta.db_table)} "
            f"({', '.join(quote(f.column) for f in d_fields)}) VALUES ({', '.join(['%s'] * len(d_fields))}) "
            f"RETURNING {d_pk}), "
            f"i AS (INSERT INTO {quote(picture_model._meta.db_table)} "
            f"({quote(picture_model._meta.pk.column)}, {', '.join(quote(f.column) for f in i_fields)}) "
            f"SELECT d.{d_pk}, {', '.join(f'%s::{f.cast_db_type(connection)}' for f in i_fields)} FROM d), "
            f"p AS (INSERT INTO {quote(prediction_model._meta.db_table)} "
            f"({quote(fk.column)}, {', '.join(quote(f.column) for f in p_fields)}) "
            f"SELECT d.{d_pk}, v.* FROM d, (VALUES {', '.join([row] * count)}) AS v "
            f"RETURNING {quote(prediction_model._meta.pk.column)}, {quote(match_on)}) "
            f"SELECT (SELECT {d_pk} FROM d), "
            f"array_agg({quote(prediction_model._meta.pk.column)}), array_agg({quote(match_on)}) FROM p"
        )
        _statements[key] = (sql, d_fields, i_fields, p_fields, fk)
    return _statements[key]


class _PreparedCursor(psycopg.Cursor):
    """Parameters bound on the server and the statement prepared (Django's own cursors bind on the client)."""

    def execute(self, query, params=None, *, prepare=True, binary=None):
        return super().execute(query, params, prepare=prepare, binary=binary)


_kept = threading.local()  # this thread's psycopg cursor for the statement (Django's connections are per thread)


def _cursor(connection):
    """A psycopg cursor for this statement, kept while its connection lives: a new cursor per request looked up the
    adapters of all 25 parameters again (issue 17: 0.2 ms). A closed or replaced connection gets a new cursor."""
    raw = getattr(_kept, "cursor", None)
    if raw is None or raw.closed or raw.connection is not connection.connection:
        raw = _kept.cursor = _PreparedCursor(connection.connection)
    return raw


def _value(field, obj):
    value = getattr(obj, field.attname)
    return Jsonb(value) if isinstance(field, models.JSONField) else value


def insert(connection, drawing, picture, predictions, match_on):
    """INSERT ``drawing``, its ``picture`` (the one-to-one row of its bytes) and ``predictions`` (unsaved instances;
    their drawing is set here) in one statement; primary keys are set as ``save()`` would set them. ``match_on``: a
    prediction column unique per drawing, to tell which id is whose. Raises Django's ``IntegrityError``."""
    sql, d_fields, i_fields, p_fields, fk = _statement(
        connection, type(drawing), type(picture), type(predictions[0]), len(predictions), match_on
    )
    params = [_value(f, drawing) for f in d_fields] + [_value(f, picture) for f in i_fields]
    for prediction in predictions:
        params += [_value(f, prediction) for f in p_fields]
    # Inside an outer transaction a failure must not break it (the domain then reads the existing drawing): a
    # savepoint, as atomic() gave the ORM path. In autocommit the statement is its own transaction.
    with transaction.atomic(using=connection.alias) if connection.in_atomic_block else nullcontext():
        connection.close_if_health_check_failed()  # what connection.cursor() does first
        connection.ensure_connection()
        with connection.wrap_database_errors:
            raw = _cursor(connection)
        # Django's wrapper: database errors as Django's, and the query in connection.queries when they are logged.
        # Not used as a context manager, which would close the kept cursor.
        cursor = (connection.make_debug_cursor if connection.queries_logged else connection.make_cursor)(raw)
        cursor.execute(sql, params)
        drawing_id, prediction_ids, keys = cursor.fetchone()
    drawing.pk = drawing_id
    picture.drawing = drawing  # its key: the drawing's id
    ids = dict(zip(keys, prediction_ids, strict=True))
    for prediction in predictions:
        setattr(prediction, fk.name, drawing)
        prediction.pk = ids[getattr(prediction, match_on)]
