"""The admin's drawing list at scale (issue 25): filters read the drawing's own columns, a page is found by its ids,
and a big table's count is PostgreSQL's estimate, not a COUNT."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from recognizer import admin as drawing_admin
from recognizer.models import Drawing
from tests.factories import make_drawing

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:recognizer_drawing_changelist")


@pytest.fixture
def drawings():
    return [
        make_drawing(keras=3, custom=3, keras_conf=0.995, custom_conf=0.999),
        make_drawing(keras=3, custom=5, keras_conf=0.7, custom_conf=0.995),
        make_drawing(keras=8, custom=8, keras_conf=0.999, custom_conf=0.992),
    ]


def listed(response):
    assert response.status_code == 200
    return {row.pk for row in response.context["cl"].result_list}


def test_filters_read_the_drawings_columns_not_the_predictions(admin_client, drawings):
    with CaptureQueriesContext(connection) as queries:
        keras_3 = listed(admin_client.get(CHANGELIST, {"keras_digit": "3"}))
    assert keras_3 == {drawings[0].pk, drawings[1].pk}
    sure = listed(admin_client.get(CHANGELIST, {"confidence": "7"}))  # the lower confidence >= 0.99
    assert sure == {drawings[0].pk, drawings[2].pk}
    # the only query over the predictions is the version filter's list of versions (cached)
    over_predictions = [q["sql"] for q in queries if "recognizer_prediction" in q["sql"]]
    assert all("DISTINCT" in sql for sql in over_predictions), over_predictions


def test_the_columns_show_each_models_answer(admin_client, drawings):
    html = admin_client.get(CHANGELIST).content.decode()
    assert "<b>5</b> <small>100%</small>" in html or "<b>5</b> <small>99%</small>" in html
    assert "<b>3</b> <small>70%</small>" in html


def test_pages_by_ids_in_the_lists_order(admin_client, drawings, monkeypatch):
    for _ in range(4):
        make_drawing()
    monkeypatch.setattr(drawing_admin.DrawingAdmin, "list_per_page", 2)
    newest_first = list(Drawing.objects.order_by("-created", "-id").values_list("pk", flat=True))
    pages = [  # the far pages are read from the other end of the index and turned round
        [d.pk for d in admin_client.get(CHANGELIST, {"p": str(p)}).context["cl"].result_list] for p in (1, 2, 3, 4)
    ]
    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:6], newest_first[6:]]
    by_id = [d.pk for d in admin_client.get(CHANGELIST, {"o": "1", "p": "4"}).context["cl"].result_list]
    assert by_id == [max(newest_first)]  # sorted by id ascending, the last page holds the newest id


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the estimate is PostgreSQL's")
def test_a_big_tables_count_is_the_planners_estimate(admin_client, drawings, monkeypatch):
    monkeypatch.setattr(drawing_admin, "ESTIMATE_ABOVE", 1)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE recognizer_drawing")
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(CHANGELIST)
    assert response.context["cl"].result_count == 3  # reltuples after ANALYZE
    assert not [q["sql"] for q in queries if 'COUNT(*) AS "__count" FROM "recognizer_drawing"' in q["sql"]]
    with CaptureQueriesContext(connection) as queries:
        filtered = admin_client.get(CHANGELIST, {"keras_digit": "3"})
    assert filtered.context["cl"].result_count >= 2  # a bounded COUNT, then the planner's estimate
    assert not [q["sql"] for q in queries if 'SELECT COUNT(*) AS "__count" FROM "recognizer_drawing" WHERE' in q["sql"]]
