"""Files handed to a browser: the name in Content-Disposition is quoted by one helper, so no
record's value can add a header parameter of its own, and no download is cached."""
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.http import parse_header_parameters

from pupils.models import Pupil

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def test_a_upn_cannot_add_a_parameter_to_the_download_header(coteford):
    Pupil.objects.filter(pk=coteford.pupil.pk).update(upn='A"; f=run.exe')  # 13 characters, as a UPN
    client = Client()
    client.force_login(coteford.head.user)
    response = client.get(reverse("reports:chronology_csv", args=[coteford.pupil.pk]))
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    kind, params = parse_header_parameters(response["Content-Disposition"])
    assert kind == "attachment"
    assert params == {"filename": 'chronology-A"; f=run.exe.csv'}


def test_every_download_in_the_code_goes_through_the_one_helper():
    """The sweep: a view that writes the header itself would bring the hole back."""
    packages = [d for d in ROOT.iterdir() if (d / "__init__.py").exists() and d.name != "tests"]
    offenders = [
        str(path.relative_to(ROOT)) for package in packages for path in package.rglob("*.py")
        if path.name != "downloads.py" and "Content-Disposition" in path.read_text(encoding="utf-8")
    ]
    assert len(packages) > 10
    assert offenders == []
