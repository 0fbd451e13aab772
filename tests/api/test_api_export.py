"""GET /api/drawings/export/: staff download labeled drawings, streamed, with a proper filename."""

import csv
import io
import zipfile

import numpy as np
import pytest
from rest_framework.test import APIClient

from tests.factories import make_drawing

pytestmark = pytest.mark.django_db


@pytest.fixture
def labeled():
    rows = [make_drawing(keras=i, custom=i, model_input=bytes([i * 20]) * 784, label=i) for i in range(3)]
    rows.append(make_drawing(keras=5, custom=6, model_input=bytes([200]) * 784, label=6, label_source="user"))
    make_drawing()  # unlabeled
    return rows


def download(client, query):
    response = client.get("/api/drawings/export/?" + query)
    assert response.status_code == 200, response.content if not response.streaming else ""
    assert response.streaming
    return response, b"".join(response.streaming_content)


@pytest.mark.parametrize(
    ("fmt", "content_type", "ext"),
    [
        ("csv", "text/csv", "csv"),
        ("idx", "application/zip", "zip"),
        ("npz", "application/octet-stream", "npz"),
        ("png", "application/zip", "zip"),
    ],
)
def test_each_format_downloads_with_a_filename(staff_api, labeled, fmt, content_type, ext):
    response, data = download(staff_api, f"format={fmt}")
    assert response["Content-Type"].startswith(content_type)
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="drawings-') and disposition.endswith(f'.{ext}"')
    assert response["X-Drawing-Count"] == "3"
    assert len(data) > 0


def test_csv_content_and_filters(staff_api, labeled):
    _, data = download(staff_api, "format=csv")
    rows = list(csv.reader(io.StringIO(data.decode())))
    assert [int(r[0]) for r in rows[1:]] == [0, 1, 2]
    assert [int(v) for v in rows[2][1:]] == [20] * 784
    _, data = download(staff_api, "format=csv&include_user_labels=true")
    assert [r[0] for r in csv.reader(io.StringIO(data.decode()))][1:] == ["0", "1", "2", "6"]
    _, data = download(staff_api, "format=csv&include_user_labels=true&only_disagreements=true")
    assert [r[0] for r in csv.reader(io.StringIO(data.decode()))][1:] == ["6"]


def test_npz_ids_line_up(staff_api, labeled):
    _, data = download(staff_api, "format=npz&include_user_labels=1")
    with np.load(io.BytesIO(data)) as npz:
        assert npz["ids"].tolist() == [d.pk for d in labeled]
        assert npz["y"].tolist() == [0, 1, 2, 6]
        assert npz["x"][:, 0, 0].tolist() == [0, 20, 40, 200]


def test_empty_selection_is_a_valid_empty_zip(staff_api):
    response, data = download(staff_api, "format=png&created_after=2999-01-01")
    assert response["X-Drawing-Count"] == "0"
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.namelist() == ["manifest.csv"]


def test_not_for_non_staff(django_user_model, labeled):
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_user("nobody"))
    response = client.get("/api/drawings/export/?format=csv")
    assert response.status_code == 403 and response.json()["error"] == "permission_denied"
