"""/api/drawings/: the staff list and its filters, one drawing, its pictures, labels and feedback."""

import base64
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from PIL import Image
from rest_framework.test import APIClient

from recognizer.models import Drawing
from tests import api_images as im
from tests.factories import drawer_client, make_drawing

pytestmark = pytest.mark.django_db


def ids(response):
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_list_is_newest_first_with_both_predictions(staff_api):
    old = make_drawing(keras=1, custom=7)
    new = make_drawing(keras=3, custom=3)
    Drawing.objects.filter(pk=old.pk).update(created=timezone.now() - timedelta(hours=1))
    body = staff_api.get("/api/drawings/").json()
    assert body["count"] == 2
    first, second = body["results"]
    assert (first["id"], second["id"]) == (new.pk, old.pk)
    assert first["agree"] is True and second["agree"] is False
    assert second["predictions"]["keras"]["digit"] == 1
    assert second["predictions"]["custom"]["digit"] == 7
    assert len(second["predictions"]["custom"]["probabilities"]) == 10
    assert first["url"] == f"/api/drawings/{new.pk}/"
    assert first["image_url"] == f"/api/drawings/{new.pk}/image.png"
    assert first["input_url"] == f"/api/drawings/{new.pk}/input.png"


def test_list_filters(staff_api):
    d_labeled = make_drawing(keras=4, custom=4, keras_conf=0.99, custom_conf=0.95, label=4)
    d_user = make_drawing(keras=2, custom=5, keras_conf=0.6, custom_conf=0.7, label=2, label_source="user")
    d_plain = make_drawing(keras=5, custom=2, keras_conf=0.3, custom_conf=0.8)
    Drawing.objects.filter(pk=d_plain.pk).update(created=timezone.now() - timedelta(days=3))
    get = lambda query: set(ids(staff_api.get("/api/drawings/?" + query)))  # noqa: E731

    assert get("labeled=true") == {d_labeled.pk, d_user.pk}
    assert get("labeled=false") == {d_plain.pk}
    assert get("label=2") == {d_user.pk}
    assert get("label_source=staff") == {d_labeled.pk}
    assert get("agree=false") == {d_user.pk, d_plain.pk}
    assert get("agree=true") == {d_labeled.pk}
    assert get("predicted=5") == {d_user.pk, d_plain.pk}
    assert get("predicted=5&model=keras") == {d_plain.pk}
    assert get("predicted=5&model=custom") == {d_user.pk}
    # The confidence bounds apply to the same prediction as the digit.
    assert get("predicted=2&min_confidence=0.65") == {d_plain.pk}
    assert get("model=keras&max_confidence=0.5") == {d_plain.pk}
    assert get("model=keras&min_confidence=0.9") == {d_labeled.pk}
    assert get("min_confidence=0.97") == {d_labeled.pk}
    yesterday = (timezone.now() - timedelta(days=1)).date().isoformat()
    assert get(f"created_after={yesterday}") == {d_labeled.pk, d_user.pk}
    assert get(f"created_before={yesterday}") == {d_plain.pk}
    assert get("created_after=" + (timezone.now() + timedelta(hours=1)).isoformat().replace("+", "%2B")) == set()


def test_list_is_paginated(staff_api, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "PAGE_SIZE": 2}
    for _ in range(5):
        make_drawing()
    page1 = staff_api.get("/api/drawings/").json()
    page3 = staff_api.get("/api/drawings/?page=3").json()
    assert page1["count"] == 5 and len(page1["results"]) == 2 and page1["next"]
    assert len(page3["results"]) == 1 and page3["next"] is None
    assert staff_api.get("/api/drawings/?page=9").status_code == 404


def list_queries(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


def test_list_query_count_does_not_grow_with_rows(staff_api, django_user_model):
    labeler = django_user_model.objects.create_user("labeler", is_staff=True)
    for i in range(3):
        make_drawing(keras=i).set_label(i, by=labeler)
    few = list_queries(staff_api, "/api/drawings/")
    for i in range(20):
        make_drawing(keras=i % 10).set_label(i % 10, by=labeler)
    assert list_queries(staff_api, "/api/drawings/") == few
    assert list_queries(staff_api, "/api/drawings/?predicted=3&model=keras&labeled=true") == few
    # count, page (with the labeler joined), predictions: three queries, whatever the page holds.
    assert few == 3


def test_list_does_not_read_the_image_blobs(staff_api):
    make_drawing()
    with CaptureQueriesContext(connection) as captured:
        staff_api.get("/api/drawings/")
    page_query = next(q["sql"] for q in captured if 'FROM "recognizer_drawing"' in q["sql"] and "LIMIT" in q["sql"])
    assert '"recognizer_drawing"."image"' not in page_query
    assert '"recognizer_drawing"."model_input"' not in page_query


def test_detail_for_staff_and_for_the_session_that_drew_it(staff_api):
    owner = drawer_client()
    drawing = make_drawing(keras=3, custom=8, drawer_key=owner.key)
    for client in (staff_api, owner):
        body = client.get(f"/api/drawings/{drawing.pk}/").json()
        assert body["id"] == drawing.pk
        assert body["predictions"]["keras"]["digit"] == 3
        assert body["predictions"]["custom"]["digit"] == 8
        assert body["agree"] is False
        assert body["label"] is None
        assert body["input"].startswith("data:image/png;base64,")
    stranger = drawer_client()
    # Not signed in, not the owner: 401 (signing in as staff would help).
    assert stranger.get(f"/api/drawings/{drawing.pk}/").status_code == 401
    # A made-up drawer cookie with the right key is not enough: it must carry our signature.
    unowned = make_drawing(drawer_key="x" * 32)
    for value in ["x" * 32, "x" * 32 + ":1tYq3c:forgedsignature", drawer_client("y" * 32).cookies["drawer"].value]:
        forged = APIClient()
        forged.cookies["drawer"] = value
        assert forged.get(f"/api/drawings/{unowned.pk}/").status_code == 401, value


def test_pictures(staff_api):
    original = im.png(im.SEVEN)
    drawing = make_drawing(image=original, model_input=bytes(range(256)) * 3 + bytes(16))
    response = staff_api.get(f"/api/drawings/{drawing.pk}/image.png")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response.content == original
    response = staff_api.get(f"/api/drawings/{drawing.pk}/input.png", HTTP_ACCEPT="image/png")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    pixels = Image.open(io.BytesIO(response.content))
    assert pixels.size == (28, 28)
    assert pixels.tobytes() == bytes(drawing.model_input)
    assert APIClient().get(f"/api/drawings/{drawing.pk}/image.png").status_code == 401
    assert staff_api.get("/api/drawings/987654321/input.png").status_code == 404


def test_staff_label_records_who_and_when(staff_api):
    drawing = make_drawing()
    response = staff_api.patch(f"/api/drawings/{drawing.pk}/", {"label": 3}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["label"] == 3
    assert response.json()["labeled_by"] == "staff"
    drawing.refresh_from_db()
    assert (drawing.label, drawing.label_source, drawing.labeled_by) == (3, "staff", staff_api.user)
    assert drawing.labeled_at is not None
    # null clears it
    assert staff_api.patch(f"/api/drawings/{drawing.pk}/", {"label": None}, format="json").json()["label"] is None
    drawing.refresh_from_db()
    assert (drawing.label, drawing.label_source, drawing.labeled_by) == (None, "", None)


def test_staff_label_over_session_login_with_csrf_token(django_user_model):
    user = django_user_model.objects.create_user("csrf-staff", is_staff=True)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    secret = "k" * 32  # a well-formed CSRF secret, as the csrftoken cookie carries it
    client.cookies["csrftoken"] = secret
    drawing = make_drawing()
    response = client.patch(f"/api/drawings/{drawing.pk}/", {"label": 6}, format="json", HTTP_X_CSRFTOKEN=secret)
    assert response.status_code == 200, response.content
    drawing.refresh_from_db()
    assert drawing.label == 6


def test_token_auth_for_staff_and_no_basic_auth(django_user_model):
    from rest_framework.authtoken.models import Token

    user = django_user_model.objects.create_user("token-staff", is_staff=True)
    token = Token.objects.create(user=user)
    make_drawing()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get("/api/drawings/").json()["count"] == 1
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Token nope")
    response = bad.get("/api/drawings/")
    assert response.status_code == 401 and response.json()["error"] == "authentication_failed"
    user.set_password("basic-pass-123")
    user.save()
    basic = APIClient()
    basic.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(b"token-staff:basic-pass-123").decode())
    assert basic.get("/api/drawings/").status_code == 401  # Basic auth is not accepted (no password guessing)


def test_feedback_from_the_person_who_drew_it():
    owner = drawer_client()
    drawing = make_drawing(keras=1, custom=7, drawer_key=owner.key)
    response = owner.post(f"/api/drawings/{drawing.pk}/feedback/", {"label": 7}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["label"] == 7 and response.json()["label_source"] == "user"
    # Changing their mind is allowed until staff have spoken.
    owner.post(f"/api/drawings/{drawing.pk}/feedback/", {"label": 1}, format="json")
    drawing.refresh_from_db()
    assert (drawing.label, drawing.label_source, drawing.labeled_by) == (1, "user", None)


def test_feedback_never_overwrites_a_staff_label():
    owner = drawer_client()
    drawing = make_drawing(drawer_key=owner.key, label=4)
    response = owner.post(f"/api/drawings/{drawing.pk}/feedback/", {"label": 9}, format="json")
    assert response.status_code == 409
    assert response.json()["error"] == "already_labeled"
    drawing.refresh_from_db()
    assert (drawing.label, drawing.label_source) == (4, "staff")


def test_mine_lists_only_this_browsers_drawings():
    owner, other = drawer_client(), drawer_client()
    mine = [make_drawing(drawer_key=owner.key) for _ in range(2)]
    make_drawing(drawer_key=other.key)
    make_drawing()
    body = owner.get("/api/drawings/mine/").json()
    assert {row["id"] for row in body["results"]} == {d.pk for d in mine}
    assert APIClient().get("/api/drawings/mine/").json()["results"] == []


def test_put_is_not_offered_and_delete_is_on_the_drawing_only(staff_api):
    drawing = make_drawing()
    assert staff_api.put(f"/api/drawings/{drawing.pk}/", {"label": 1}, format="json").status_code == 405
    assert staff_api.delete("/api/drawings/").status_code == 405
    assert Drawing.objects.filter(pk=drawing.pk).exists()  # DELETE of one drawing: tests/test_data_lifecycle.py


def test_hand_built_representation_is_what_drf_would_build(staff_api, django_user_model):
    from rest_framework import serializers
    from rest_framework.test import APIRequestFactory

    from recognizer.api.serializers import DrawingListSerializer, DrawingSerializer

    drawing = make_drawing(keras=2, custom=5)
    drawing.set_label(5, by=django_user_model.objects.create_user("who", is_staff=True))
    drawing = Drawing.objects.with_predictions().select_related("labeled_by").get(pk=drawing.pk)
    request = APIRequestFactory().get("/")
    request.user = staff_api.user
    for cls in (DrawingListSerializer, DrawingSerializer):
        ser = cls(drawing, context={"request": request})
        assert ser.to_representation(drawing) == serializers.ModelSerializer.to_representation(ser, drawing)
