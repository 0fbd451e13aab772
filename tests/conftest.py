"""Fixtures shared by the whole suite."""

import os
import socket

import pytest


def service_up(host, port):
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name, port):
    """Tests that need a real service fail when it is down; they never skip (CI must run them)."""
    if not service_up("127.0.0.1", port):
        pytest.fail(f"{name} is not running on 127.0.0.1:{port}; start it with `make services`.")


POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """One test database per pytest process, so parallel runs on one machine never clobber each other."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    test = db.setdefault("TEST", {})
    if db["ENGINE"].endswith("sqlite3"):
        test["NAME"] = str(settings.BASE_DIR / f"test-db-{os.getpid()}.sqlite3")
    else:
        test["NAME"] = f"test_{db['NAME']}_{os.getpid()}"


def read_only(array):
    """A view of ``array`` that cannot be written through (the array itself is left as it was)."""
    view = array.view()
    view.flags.writeable = False
    return view


@pytest.fixture(scope="session")
def mnist_test():
    """MNIST's 10,000 labeled test digits, ``(x uint8 (N, 28, 28), y uint8 (N,))``, read once for the whole run.

    Shared by every module that needs real labeled digits, so read-only: copy before changing.
    """
    from recognizer.ml import datasets  # wherever MNIST is: ../shared, the Keras cache, a download

    x, y = datasets.load_mnist("test")
    return read_only(x), read_only(y)


@pytest.fixture(scope="session")
def pen_digits():
    """The UNIPEN pen digits in the repo (labeled strokes, with their writers), read once for the whole run.

    A tuple, shared by every module that draws real pen digits: nobody can add or drop one.
    """
    from recognizer.ml import datasets

    return tuple(datasets.load_unipen())


@pytest.fixture
def postgres_url():
    require_service("PostgreSQL", 5432)
    return POSTGRES_URL


@pytest.fixture
def redis_url():
    require_service("Redis", 6379)
    return REDIS_URL


@pytest.fixture
def fresh_cache():
    """An empty cache before and after: the anonymous rate limit is per IP, and every test client is 127.0.0.1."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user(
        username="staff", password="staff-pass-123", email="staff@example.com", is_staff=True
    )


@pytest.fixture
def other_staff_user(django_user_model):
    return django_user_model.objects.create_user(username="staff2", password="staff-pass-456", is_staff=True)


@pytest.fixture
def staff_api(staff_user):
    """An API client authenticated as ``staff_user`` (``.user``)."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(staff_user)
    client.user = staff_user
    return client


@pytest.fixture
def viewer(client, staff_user):
    """A logged-in admin client whose staff user may view drawings, and nothing more."""
    from django.contrib.auth.models import Permission

    staff_user.user_permissions.add(Permission.objects.get(codename="view_drawing"))
    client.force_login(staff_user)
    return client


@pytest.fixture
def plain_user(django_user_model):
    return django_user_model.objects.create_user(username="plain", password="plain-pass-123")


# A test that asks for a real service carries its marker, so `-m "not redis"` really leaves Redis out.
SERVICE_MARKERS = {"redis_url": "redis", "postgres_url": "postgres"}


def pytest_collection_modifyitems(config, items):
    unmarked = [
        f"{item.nodeid} uses {fixture} without @pytest.mark.{marker}"
        for item in items
        for fixture, marker in SERVICE_MARKERS.items()
        if fixture in getattr(item, "fixturenames", ()) and item.get_closest_marker(marker) is None
    ]
    if unmarked:
        raise pytest.UsageError("\n".join(unmarked))


def pytest_report_header(config):
    from django.conf import settings

    db = settings.DATABASES["default"]
    return f"database backend: {db['ENGINE']} ({db.get('HOST') or db['NAME']})"
