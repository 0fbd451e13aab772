"""Drawing admin: list, filters, search, detail page, images, bulk labeling and who may see any of it."""

import io

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from PIL import Image

from recognizer.models import Drawing
from tests.factories import make_drawing

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:recognizer_drawing_changelist")


def grant(user, *codenames):
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="recognizer", codename__in=codenames))
    return user


@pytest.fixture
def reviewer(staff_user):
    return grant(staff_user, "view_drawing", "change_drawing")


@pytest.fixture
def staff_client(client, reviewer):
    client.force_login(reviewer)
    return client


@pytest.fixture
def drawings():
    return {
        "agree7": make_drawing(keras=7, custom=7, keras_conf=0.99, custom_conf=0.98),
        "disagree": make_drawing(keras=4, custom=9, keras_conf=0.55, custom_conf=0.93, keras_version="k-2"),
        "staff3": make_drawing(keras=3, custom=3, keras_conf=0.85, custom_conf=0.7, label=3),
        "user5": make_drawing(keras=5, custom=6, keras_conf=0.4, custom_conf=0.96, label=5, label_source="user"),
    }


def listed(response):
    assert response.status_code == 200
    return {d.pk for d in response.context["cl"].result_list}


def test_changelist_shows_answers_and_links(staff_client, drawings):
    response = staff_client.get(CHANGELIST)
    html = response.content.decode()
    assert listed(response) == {d.pk for d in drawings.values()}
    d = drawings["disagree"]
    assert reverse("admin:recognizer_drawing_image", args=[d.pk]) in html
    assert "<b>4</b> <small>55%</small>" in html and "<b>9</b> <small>93%</small>" in html
    assert reverse("admin:recognizer_drawing_queue") in html
    assert reverse("admin:recognizer_drawing_dashboard") in html
    row = next(r for r in response.context["cl"].result_list if r.pk == d.pk)
    assert (row.keras_digit, row.custom_digit) == (4, 9)


def test_changelist_queries_do_not_grow_with_rows(staff_client, drawings, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        staff_client.get(CHANGELIST)
    for i in range(20):
        make_drawing(keras=i % 10, custom=(i + 1) % 10)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = staff_client.get(CHANGELIST)
    assert len(listed(response)) == 24


@pytest.mark.parametrize(
    "query, expected",
    [
        ("labeled=staff", {"staff3"}),
        ("labeled=user", {"user5"}),
        ("labeled=no", {"agree7", "disagree"}),
        ("label=5", {"user5"}),
        ("agree__exact=0", {"disagree", "user5"}),
        ("agree__exact=1", {"agree7", "staff3"}),
        ("keras_digit=4", {"disagree"}),
        ("custom_digit=9", {"disagree"}),
        ("custom_digit=4", set()),
        ("version=keras:k-2", {"disagree"}),
        ("version=custom:test-1", {"agree7", "disagree", "staff3", "user5"}),
        ("confidence=0", {"user5"}),  # lower confidence 0.40
        ("confidence=1", {"disagree"}),  # 0.55
        ("confidence=3", {"staff3"}),  # 0.70
        ("confidence=6", {"agree7"}),  # 0.98
        ("labeled=no&keras_digit=7", {"agree7"}),
    ],
)
def test_filters(staff_client, drawings, query, expected):
    response = staff_client.get(f"{CHANGELIST}?{query}")
    assert listed(response) == {drawings[name].pk for name in expected}


def test_date_filter(staff_client, drawings):
    from datetime import timedelta

    from django.utils import timezone

    old = drawings["agree7"]
    Drawing.objects.filter(pk=old.pk).update(created=timezone.now() - timedelta(days=30))
    response = staff_client.get(CHANGELIST, {"created__gte": str(timezone.now() - timedelta(days=7))})
    assert listed(response) == {d.pk for name, d in drawings.items() if name != "agree7"}


def test_search_by_id(staff_client, drawings):
    d = drawings["staff3"]
    assert listed(staff_client.get(CHANGELIST, {"q": str(d.pk)})) == {d.pk}
    assert listed(staff_client.get(CHANGELIST, {"q": f"#{d.pk}"})) == {d.pk}
    assert listed(staff_client.get(CHANGELIST, {"q": "seven"})) == set()


def test_detail_page_shows_image_input_and_probabilities(staff_client, drawings):
    d = drawings["disagree"]
    response = staff_client.get(reverse("admin:recognizer_drawing_change", args=[d.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert reverse("admin:recognizer_drawing_image", args=[d.pk]) in html
    assert reverse("admin:recognizer_drawing_input", args=[d.pk]) in html
    assert 'class="probabilities"' in html
    # keras put 0.55 on 4 and 0.05 on each other digit; both vectors are shown, ten numbers each
    assert html.count("0.550") == 1 and html.count("0.930") == 1
    assert html.count("<td") >= 20
    # read-only: the predictions and the drawing are not form inputs
    assert 'name="label"' in html
    assert 'name="agree"' not in html and 'name="image"' not in html


def test_saving_the_detail_form_records_a_staff_label(staff_client, reviewer, drawings):
    d = drawings["user5"]
    response = staff_client.post(reverse("admin:recognizer_drawing_change", args=[d.pk]), {"label": "6"})
    assert response.status_code == 302
    d.refresh_from_db()
    assert (d.label, d.label_source, d.labeled_by) == (6, "staff", reviewer)
    assert d.labeled_at is not None


def test_image_and_input_views(staff_client, drawings):
    d = drawings["agree7"]
    image = staff_client.get(reverse("admin:recognizer_drawing_image", args=[d.pk]))
    assert image.status_code == 200
    assert image["Content-Type"] == "image/png"
    assert image.content == bytes(d.image)
    png = staff_client.get(reverse("admin:recognizer_drawing_input", args=[d.pk]))
    assert png["Content-Type"] == "image/png"
    picture = Image.open(io.BytesIO(png.content))
    assert picture.size == (28, 28) and picture.mode == "L"
    assert picture.tobytes() == bytes(d.model_input)


def test_image_with_unsafe_type_is_not_served_inline(staff_client):
    d = make_drawing(image=b"<svg onload=alert(1)>", image_type="image/svg+xml")
    response = staff_client.get(reverse("admin:recognizer_drawing_image", args=[d.pk]))
    assert response["Content-Type"] == "application/octet-stream"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_bulk_set_label_action(staff_client, reviewer, drawings):
    chosen = [drawings["agree7"].pk, drawings["user5"].pk, drawings["staff3"].pk]
    response = staff_client.post(CHANGELIST, {"action": "set_label_8", "_selected_action": chosen})
    assert response.status_code == 302
    for d in Drawing.objects.filter(pk__in=chosen):
        assert (d.label, d.label_source, d.labeled_by_id) == (8, "staff", reviewer.pk)
        assert d.labeled_at is not None
    untouched = Drawing.objects.get(pk=drawings["disagree"].pk)
    assert untouched.label is None and untouched.labeled_by is None


def test_every_digit_has_an_action(staff_client, drawings):
    actions = staff_client.get(CHANGELIST).context["action_form"].fields["action"].choices
    names = {name for name, _ in actions}
    assert {f"set_label_{d}" for d in range(10)} <= names


def test_bulk_action_after_filter_and_clear(staff_client, drawings):
    d = drawings["disagree"]
    staff_client.post(f"{CHANGELIST}?agree__exact=0", {"action": "set_label_0", "_selected_action": [d.pk]})
    d.refresh_from_db()
    assert d.label == 0
    staff_client.post(CHANGELIST, {"action": "clear_label", "_selected_action": [d.pk]})
    d.refresh_from_db()
    assert (d.label, d.label_source, d.labeled_by, d.labeled_at) == (None, "", None, None)


def test_no_add_button(staff_client):
    assert staff_client.get(reverse("admin:recognizer_drawing_add")).status_code == 403


def test_view_only_staff_can_look_but_not_label(client, staff_user, drawings):
    grant(staff_user, "view_drawing")
    client.force_login(staff_user)
    d = drawings["agree7"]
    assert client.get(CHANGELIST).status_code == 200
    client.post(CHANGELIST, {"action": "set_label_1", "_selected_action": [d.pk]})
    d.refresh_from_db()
    assert d.label is None
    assert client.get(reverse("admin:recognizer_drawing_queue")).status_code == 403
    assert client.get(reverse("admin:recognizer_drawing_dashboard")).status_code == 200


def admin_urls(pk):
    return [
        CHANGELIST,
        reverse("admin:recognizer_drawing_change", args=[pk]),
        reverse("admin:recognizer_drawing_image", args=[pk]),
        reverse("admin:recognizer_drawing_input", args=[pk]),
        reverse("admin:recognizer_drawing_queue"),
        reverse("admin:recognizer_drawing_queue_next"),
        reverse("admin:recognizer_drawing_dashboard"),
    ]


@pytest.mark.parametrize("who", ["anonymous", "plain"])
def test_anonymous_and_non_staff_get_nothing(who, plain_user, drawings):
    client = Client()
    if who == "plain":
        client.force_login(plain_user)
    d = drawings["agree7"]
    for url in admin_urls(d.pk):
        response = client.get(url)
        assert response.status_code == 302, url
        assert reverse("admin:login") in response["Location"], url
        assert b"PNG" not in response.content
    response = client.post(CHANGELIST, {"action": "set_label_1", "_selected_action": [d.pk]})
    assert response.status_code == 302
    d.refresh_from_db()
    assert d.label is None


def test_staff_without_permissions_get_nothing(client, staff_user, drawings):
    client.force_login(staff_user)  # is_staff, but no drawing permissions
    d = drawings["agree7"]
    for url in admin_urls(d.pk):
        response = client.get(url)
        assert response.status_code in (403, 404), url
        assert bytes(d.image) not in response.content


def test_export_selected_after_a_filter(staff_client, drawings):
    """'Export selected' (recognizer/admin_export.py) on the annotated, filtered changelist queryset: a staff
    reviewer (not a superuser) picks the format on the confirmation page and gets only the labeled ones."""
    extra = make_drawing(keras=2, custom=6, label=6)  # a labeled disagreement
    url = f"{CHANGELIST}?agree__exact=0"
    page = staff_client.post(url, {"action": "export_selected", "_selected_action": [extra.pk], "select_across": "1"})
    assert page.status_code == 200
    assert 'value="csv"' in page.content.decode()
    response = staff_client.post(
        url,
        {"action": "export_selected", "_selected_action": [extra.pk], "select_across": "1", "confirm": "1",
         "format": "csv", "include_user_labels": "on"},
    )  # fmt: skip
    assert response.streaming
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0].startswith("label,pixel0,") and lines[0].endswith(",pixel783")
    # the disagreements with a label: user5 (user label 5) and extra (staff label 6), in id order
    assert [line.split(",")[0] for line in lines[1:]] == ["5", "6"]
    assert [int(v) for v in lines[2].split(",")[1:]] == list(bytes(extra.model_input))
