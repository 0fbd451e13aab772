"""GET /api/accuracy/: the same numbers as recognizer.staff.accuracy, for staff only."""

import json

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from recognizer.staff import accuracy
from tests.factories import make_drawing

pytestmark = pytest.mark.django_db

URL = "/api/accuracy/"


@pytest.fixture
def drawings():
    make_drawing(keras=1, custom=1, label=1)
    make_drawing(keras=2, custom=3, label=3)
    make_drawing(keras=4, custom=4, label=9)
    make_drawing(keras=5, custom=5, label=5, label_source="user")
    make_drawing(keras=6, custom=6)


def test_staff_get_the_same_numbers_as_the_module(staff_api, drawings):
    response = staff_api.get(URL)
    assert response.status_code == 200
    data = response.json()
    assert data == json.loads(json.dumps(accuracy.compute()))
    assert data["labeled"] == 3
    keras = data["per_model"]["keras"]["accuracy"]
    assert (keras["k"], keras["n"]) == (1, 3)
    assert (keras["ci_low"], keras["ci_high"]) == pytest.approx(accuracy.wilson_interval(1, 3))
    assert len(data["per_model"]["custom"]["confusion"]) == 10


@pytest.mark.parametrize("value", ["1", "true", "True"])
def test_include_user_labels(staff_api, drawings, value):
    data = staff_api.get(URL, {"include_user_labels": value}).json()
    assert data["include_user_labels"] is True
    assert data["labeled"] == 4
    assert data["per_model"]["keras"]["accuracy"]["k"] == 2


def test_bad_switch_is_a_json_400(staff_api):
    response = staff_api.get(URL, {"include_user_labels": "perhaps"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid"
    assert "include_user_labels" in response.json()["detail"]


def test_empty_database(staff_api):
    data = staff_api.get(URL).json()
    assert data["drawings"] == 0
    assert data["per_model"]["keras"]["accuracy"]["rate"] is None


def test_token_auth(staff_user, drawings):
    token = Token.objects.create(user=staff_user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get(URL).status_code == 200


def test_anonymous_and_non_staff_get_nothing(plain_user, drawings):
    anonymous = APIClient().get(URL)
    assert anonymous.status_code == 401
    assert set(anonymous.json()) == {"error", "detail"}
    client = APIClient()
    client.force_authenticate(plain_user)
    response = client.get(URL)
    assert response.status_code == 403
    assert "per_model" not in response.json()


def test_only_get(staff_api):
    assert staff_api.post(URL, {}).status_code == 405


def test_imported_drawings_are_left_out_unless_asked_for(staff_api, drawings):
    make_drawing(keras=7, custom=1, label=1, source="import")
    make_drawing(keras=7, custom=2, label=2, source="import")
    default = staff_api.get(URL).json()
    assert default["include_imported"] is False
    assert (default["drawings"], default["labeled"]) == (5, 3)  # production only, as before the import
    both = staff_api.get(URL, {"include_imported": "true"}).json()
    assert both["include_imported"] is True
    assert (both["drawings"], both["labeled"]) == (7, 5)
    assert (both["per_model"]["keras"]["accuracy"]["k"], both["per_model"]["keras"]["accuracy"]["n"]) == (1, 5)
    assert (both["per_model"]["custom"]["accuracy"]["k"], both["per_model"]["custom"]["accuracy"]["n"]) == (4, 5)
    assert both == json.loads(json.dumps(accuracy.compute(include_imported=True)))
    bad = staff_api.get(URL, {"include_imported": "maybe"})
    assert bad.status_code == 400 and "include_imported" in bad.json()["detail"]
