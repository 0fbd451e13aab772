"""The admin's "Export selected": a confirmation page to choose the format, then the download."""

import io

import numpy as np
import pytest
from django.urls import reverse

from tests.factories import make_drawing

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:recognizer_drawing_changelist")


@pytest.fixture
def drawings():
    return [
        make_drawing(model_input=bytes([10]) * 784, label=1),
        make_drawing(model_input=bytes([20]) * 784, label=2, label_source="user"),
        make_drawing(model_input=bytes([30]) * 784),  # unlabeled
        make_drawing(model_input=bytes([40]) * 784, label=4),
    ]


def test_confirmation_page_then_download(admin_client, drawings):
    picked = [drawings[0].pk, drawings[1].pk, drawings[2].pk]
    page = admin_client.post(CHANGELIST, {"action": "export_selected", "_selected_action": picked})
    assert page.status_code == 200
    html = page.content.decode()
    assert "3 drawings selected: 1 labeled by staff" in html and "2 with any label" in html
    assert 'value="npz"' in html and 'name="include_user_labels"' in html
    response = admin_client.post(
        CHANGELIST,
        {"action": "export_selected", "_selected_action": picked, "confirm": "1", "format": "npz",
         "include_user_labels": "on"},
    )  # fmt: skip
    assert response.status_code == 200 and response.streaming
    assert response["Content-Disposition"].endswith('.npz"')
    with np.load(io.BytesIO(b"".join(response.streaming_content))) as npz:
        assert npz["ids"].tolist() == [drawings[0].pk, drawings[1].pk]
        assert npz["y"].tolist() == [1, 2]
        assert npz["x"][:, 0, 0].tolist() == [10, 20]


def test_select_all_follows_the_changelist_filters(admin_client, drawings):
    response = admin_client.post(
        CHANGELIST,
        {"action": "export_selected", "_selected_action": [drawings[0].pk], "select_across": "1", "confirm": "1",
         "format": "csv"},
    )  # fmt: skip
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == ["1", "4"]


def test_a_bad_choice_shows_the_form_again(admin_client, drawings):
    response = admin_client.post(
        CHANGELIST, {"action": "export_selected", "_selected_action": [drawings[0].pk], "confirm": "1", "format": "xls"}
    )
    assert response.status_code == 200 and not response.streaming
    assert "Select a valid choice" in response.content.decode()
