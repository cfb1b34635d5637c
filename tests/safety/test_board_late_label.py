"""A check-in past its time, but inside the grace before the alert, is labelled "Late" on the
board (its countdown already says "min late"), not "Due soon"; before its time it is due soon."""
import re

import pytest
from django.urls import reverse

from tests.safety.support import local

pytestmark = pytest.mark.django_db


def label(office, visit):
    page = office.get(reverse("alerts:board")).content.decode()
    row = page.split(f'id="visit-{visit.pk}"')[1].split("</header>")[0]
    return re.search(r'class="urgency urgency--due_soon">([^<]*)<', row).group(1), page


def test_a_check_in_inside_its_grace_is_late_not_due_soon(office, inside, clock):
    clock.move_to(local(10, 16))  # due at 10:20
    before, page = label(office, inside)
    assert before == "Due soon" and "1 due soon or late" in page
    clock.move_to(local(10, 22))  # two minutes past, the alert at 10:25
    after, page = label(office, inside)
    assert after == "Late" and "1 due soon or late" in page
