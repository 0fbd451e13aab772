"""The PostgreSQL backend's health check (recognizer/postgres/base.py): no SELECT 1 while the server has said nothing,
Django's SELECT 1 -- and a fresh connection -- as soon as it has.

Each test opens its own connection through the backend, whatever database the suite runs on, and drives it the way
a request does: ``close_if_unusable_or_obsolete()`` where a request starts, a cursor for its first query.
"""

import select
import time

import dj_database_url
import psycopg
import pytest
from django.db.utils import ConnectionHandler

pytestmark = pytest.mark.postgres


@pytest.fixture
def conn(postgres_url, django_db_blocker):
    settings = {**dj_database_url.parse(postgres_url, conn_max_age=60, conn_health_checks=True)}
    connection = ConnectionHandler({"default": {**settings, "ENGINE": "recognizer.postgres"}})["default"]
    with django_db_blocker.unblock():  # its own connection to the server, outside the test database
        yield connection
        connection.close()


def backend_pid(connection):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def count_select_1(monkeypatch, connection):
    """Every call of Django's SELECT 1 check (``is_usable``), still running it."""
    calls = []
    original = connection.is_usable

    def is_usable():
        calls.append(original())
        return calls[-1]

    monkeypatch.setattr(connection, "is_usable", is_usable)
    return calls


def new_request(connection):
    connection.close_if_unusable_or_obsolete()  # what Django runs when a request starts
    assert not connection.health_check_done


def test_a_quiet_connection_is_kept_without_a_select_1(conn, monkeypatch):
    pid = backend_pid(conn)
    calls = count_select_1(monkeypatch, conn)
    for _ in range(3):
        new_request(conn)
        assert conn.socket_is_quiet()
        assert backend_pid(conn) == pid
        assert conn.health_check_done
    assert calls == []


def test_a_connection_the_server_ended_is_replaced_before_the_first_query(conn, monkeypatch, postgres_url):
    pid = backend_pid(conn)
    socket = conn.connection.pgconn.socket
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0]
    poller = select.poll()
    poller.register(socket, select.POLLIN)
    deadline = time.monotonic() + 10
    while not poller.poll(100) and time.monotonic() < deadline:  # the FATAL message and the close arrive
        pass
    calls = count_select_1(monkeypatch, conn)
    new_request(conn)
    assert not conn.socket_is_quiet()
    new_pid = backend_pid(conn)  # no error: the dead connection was closed and a new one opened
    assert new_pid != pid
    assert calls == [False]  # Django's SELECT 1 decided, and said the old connection was dead


def test_a_connection_inside_a_transaction_gets_django_s_select_1(conn, monkeypatch):
    backend_pid(conn)
    conn.set_autocommit(False)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1")  # now inside a transaction: not idle
        calls = count_select_1(monkeypatch, conn)
        conn.health_check_done = False
        assert not conn.socket_is_quiet()
        conn.close_if_health_check_failed()
        assert calls == [True]
    finally:
        conn.rollback()
        conn.set_autocommit(True)


def test_an_unread_message_gets_django_s_select_1(conn, monkeypatch, postgres_url):
    """Anything the server sent since its last answer (here a notification) means "ask", not "assume"."""
    with conn.cursor() as cursor:
        cursor.execute("LISTEN recognizer_health_check_test")
    with psycopg.connect(postgres_url, autocommit=True) as other:
        other.execute("NOTIFY recognizer_health_check_test")
    poller = select.poll()
    poller.register(conn.connection.pgconn.socket, select.POLLIN)
    assert poller.poll(5000)
    calls = count_select_1(monkeypatch, conn)
    new_request(conn)
    assert not conn.socket_is_quiet()
    with conn.cursor() as cursor:
        cursor.execute("SELECT 2")
        assert cursor.fetchone() == (2,)
    assert calls == [True]
