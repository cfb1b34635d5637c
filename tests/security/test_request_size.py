"""Over-large requests are refused from their stated length before anything reads them: the
sign-in page, any form, the API; a page that takes a file allows its larger size only to
someone signed in. (Two 600 MB posts to the sign-in page once held both web workers.)"""
import io

import pytest
from django.test import Client
from django.urls import reverse

from attendance.models import ImportRun

pytestmark = pytest.mark.django_db

HUGE = str(600 * 1024 * 1024)


def posted_and_never_read(monkeypatch):
    """Fails the test if anything parses a request body."""
    from django.http import multipartparser

    def refuse(*args, **kwargs):
        raise AssertionError("the body was parsed")

    monkeypatch.setattr(multipartparser.MultiPartParser, "parse", refuse)


def test_a_huge_post_to_the_sign_in_page_is_refused_before_it_is_read(monkeypatch):
    posted_and_never_read(monkeypatch)
    response = Client().post(reverse("login"), {"username": "x", "password": "y", "f": io.BytesIO(b"x")},
                             CONTENT_LENGTH=HUGE)
    assert response.status_code == 413
    assert "too large (600.0 MB; this page takes up to 2.5 MB)" in response.content.decode()


def test_a_stranger_cannot_send_a_large_file_to_the_import_page(monkeypatch):
    posted_and_never_read(monkeypatch)
    response = Client().post(reverse("attendance:import"), {"file": io.BytesIO(b"x"), "mapping": "sims"},
                             CONTENT_LENGTH=str(20 * 1024 * 1024))
    assert response.status_code == 413


def test_the_api_answers_an_over_large_body_with_413_in_json(coteford):
    client = Client()
    client.force_login(coteford.head.user)
    response = client.post("/api/policy/evaluate", "{}", content_type="application/json", CONTENT_LENGTH=HUGE)
    assert response.status_code == 413 and "too large" in response.json()["detail"]


def test_the_office_can_still_send_a_file_of_several_megabytes_to_the_import_page(coteford):
    client = Client()
    client.force_login(coteford.office.user)
    rows = "".join(f"{coteford.pupil.upn},Ava,{day:02d}/01/2025,{s},/\n" for day in range(6, 11) for s in ("AM", "PM"))
    # 5 MB (under the page's 25 MB), the same ten marks again and again: received and checked.
    big = io.BytesIO(("UPN,Forename,AttendanceDate,SessionName,AttendanceMark\n" + rows * 20_000).encode())
    big.name = "marks.csv"
    response = client.post(reverse("attendance:import"), {"file": big, "mapping": "sims"})
    assert response.status_code == 200
    assert "a second AM mark" in response.content.decode()  # the file was read, line by line
    assert not ImportRun.objects.exists()
