"""Failed logins are locked out (django-axes) per client address and per username at that address: admin form and
API tokens.

Each admin guess costs a password hash (~350 ms on this machine's hasher in production settings); after
``AXES_FAILURE_LIMIT`` failures the client gets 429 without one. A username guessed from many addresses is slowed
down, never locked out (tests/staff/test_login_slowdown.py).
"""

import pytest
from django.test import Client, override_settings
from rest_framework.test import APIClient

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

LOGIN = "/admin/login/?next=/admin/"
LIMIT = 3


@pytest.fixture(autouse=True)
def small_limit():
    with override_settings(AXES_FAILURE_LIMIT=LIMIT):
        yield


def login(username, password, ip):
    return Client(REMOTE_ADDR=ip).post(LOGIN, {"username": username, "password": password})


def test_admin_login_locks_out_a_guessing_client(staff_user):
    codes = [login("staff", f"guess-{i}", "10.0.0.1").status_code for i in range(LIMIT + 1)]
    assert codes[: LIMIT - 1] == [200] * (LIMIT - 1)  # the form again, with an error
    assert codes[LIMIT - 1 :] == [429, 429]
    locked = login("staff", "staff-pass-123", "10.0.0.1")  # even the right password, from that client
    assert locked.status_code == 429 and int(locked["Retry-After"]) > 0


def test_a_username_guessed_from_many_addresses_is_slowed_not_locked_out(staff_user, other_staff_user):
    for i in range(LIMIT):
        login("staff", f"guess-{i}", f"10.0.1.{i}")
    slowed = login("staff", "staff-pass-123", "10.0.2.99")  # that username, from elsewhere: a short wait
    assert slowed.status_code == 429 and 1 <= int(slowed["Retry-After"]) <= 2
    assert login("staff2", "staff-pass-456", "10.0.2.99").status_code == 302  # other users are unaffected


def test_a_success_before_the_limit_resets_the_count(staff_user):
    for i in range(LIMIT - 1):
        login("staff", f"guess-{i}", "10.0.3.1")
    assert login("staff", "staff-pass-123", "10.0.3.1").status_code == 302
    assert login("staff", "guess-again", "10.0.3.1").status_code == 200


def test_wrong_api_tokens_lock_out_the_client_with_a_json_429(staff_user):
    from rest_framework.authtoken.models import Token

    good = Token.objects.create(user=staff_user).key
    guesser = APIClient(REMOTE_ADDR="10.0.4.1")
    codes = []
    for i in range(LIMIT + 1):
        guesser.credentials(HTTP_AUTHORIZATION=f"Token {i:040d}")
        codes.append(guesser.get("/api/drawings/").status_code)
    assert codes == [401] * (LIMIT - 1) + [429, 429]  # the failure that reaches the limit is answered 429
    guesser.credentials(HTTP_AUTHORIZATION=f"Token {good}")
    response = guesser.get("/api/drawings/")
    assert response.status_code == 429 and response.json()["error"] == "too_many_failed_logins"
    other = APIClient(REMOTE_ADDR="10.0.4.2")
    other.credentials(HTTP_AUTHORIZATION=f"Token {good}")
    assert other.get("/api/drawings/").status_code == 200


def test_lockout_uses_the_trusted_proxy_hop(staff_user, settings):
    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}):
        for i in range(LIMIT):
            Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="9.9.9.9").post(
                LOGIN, {"username": f"nobody{i}", "password": "x"}
            )
        behind_same_proxy = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="8.8.8.8")
        assert behind_same_proxy.post(LOGIN, {"username": "staff", "password": "staff-pass-123"}).status_code == 302
        spoofed = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="1.1.1.1, 9.9.9.9")
        assert spoofed.post(LOGIN, {"username": "staff", "password": "staff-pass-123"}).status_code == 429
