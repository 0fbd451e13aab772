"""A staff username guessed from many addresses (issue 27, item 11): the username is never locked out on its own; the
guessing is slowed by a growing wait instead, the owner gets in, and their API token keeps working.

No test sleeps: the wait is passed by moving the recorded failures back in time.
"""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client, override_settings
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from recognizer import logins

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

LOGIN = "/admin/login/?next=/admin/"
LIMIT = 3
RIGHT = "staff-pass-123"


@pytest.fixture(autouse=True)
def small_limit():
    with override_settings(AXES_FAILURE_LIMIT=LIMIT):
        yield


def login(password, ip, username="staff"):
    return Client(REMOTE_ADDR=ip).post(LOGIN, {"username": username, "password": password})


def failures():
    return sum(AccessAttempt.objects.filter(username="staff").values_list("failures_since_start", flat=True))


def later(seconds):
    """As if ``seconds`` had passed since every recorded failure."""
    for attempt in AccessAttempt.objects.all():
        attempt.attempt_time -= timedelta(seconds=seconds)
        attempt.save(update_fields=["attempt_time"])


def guess_from_many_addresses(n, start=0):
    """``n`` wrong passwords for "staff", each from its own address, each after the wait the last one asked for."""
    for i in range(start, start + n):
        later(61)
        assert login(f"guess-{i}", f"10.8.{i // 250}.{i % 250 + 1}").status_code == 200


def test_the_owner_is_not_locked_out_by_guesses_from_many_addresses(staff_user):
    guess_from_many_addresses(10)  # ten wrong passwords, ten addresses: what locked the owner out for 15 minutes
    assert failures() == 10
    slowed = login(RIGHT, "10.9.0.1")  # the owner, right away, from an address they never used
    assert slowed.status_code == 429
    assert 1 <= int(slowed["Retry-After"]) <= 60
    assert b"for this username; try again in" in slowed.content
    later(int(slowed["Retry-After"]))
    response = login(RIGHT, "10.9.0.1")
    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_attempts_sent_during_the_wait_are_refused_unchecked_and_not_recorded(staff_user):
    guess_from_many_addresses(LIMIT)
    before = failures()
    for i in range(20):  # a botnet firing without waiting: no password is checked, nothing is counted
        refused = login(f"fast-{i}", f"10.7.0.{i + 1}")
        assert refused.status_code == 429
    assert failures() == before
    later(2)
    assert login(RIGHT, "10.9.0.2").status_code == 302  # the wait did not grow meanwhile


def test_the_wait_grows_with_the_guesses_and_is_capped():
    assert [logins.growing_wait(n, 10) for n in (10, 19, 20, 30, 40, 50, 60, 10_000)] == [2, 2, 4, 8, 16, 32, 60, 60]
    assert logins.username_wait("nobody", "10.0.0.1") == 0


def test_a_growing_wait_is_what_retry_after_says(staff_user):
    guess_from_many_addresses(2 * LIMIT)  # 2 x the limit: the second step of the wait, 4 s
    assert int(login(RIGHT, "10.9.0.3")["Retry-After"]) == 4
    later(3)
    assert int(login(RIGHT, "10.9.0.3")["Retry-After"]) == 1
    later(1)
    assert login(RIGHT, "10.9.0.3").status_code == 302


def test_an_address_the_owner_logged_in_from_never_waits(staff_user):
    assert login(RIGHT, "10.9.1.1").status_code == 302  # the owner's office, recorded by axes' access log
    guess_from_many_addresses(4 * LIMIT)
    assert login(RIGHT, "10.9.1.2").status_code == 429  # elsewhere: slowed
    assert login(RIGHT, "10.9.1.1").status_code == 302  # from the office: straight in


def test_the_combination_of_username_and_address_is_what_locks(staff_user, other_staff_user):
    for i in range(LIMIT):
        login(f"guess-{i}", "10.6.0.1")
    locked = login(RIGHT, "10.6.0.1")
    assert locked.status_code == 429 and int(locked["Retry-After"]) == 15 * 60  # that address is locked out
    assert login("staff-pass-456", "10.6.0.1", username="staff2").status_code == 429  # for any username there
    later(2)
    assert login(RIGHT, "10.6.0.2").status_code == 302  # the username from elsewhere is not


def test_the_api_token_keeps_working_while_the_username_is_guessed(staff_user):
    key = Token.objects.create(user=staff_user).key
    guess_from_many_addresses(4 * LIMIT)
    assert login(RIGHT, "10.9.2.1").status_code == 429
    for ip in ("10.9.2.1", "10.8.0.1", "10.5.5.5"):  # a fresh address, and an address that guessed
        client = APIClient(REMOTE_ADDR=ip)
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        assert client.get("/api/drawings/").status_code == 200


def test_only_recent_failures_count(staff_user):
    guess_from_many_addresses(LIMIT)
    later(16 * 60)  # past LOGIN_LOCKOUT_MINUTES (15)
    assert logins.username_wait("staff", "10.9.3.1", now=timezone.now()) == 0
    assert login(RIGHT, "10.9.3.1").status_code == 302
