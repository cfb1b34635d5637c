"""Two imports of the same school at once: the second waits for the first (the school's row
lock), so the roll is written once and the counts add up."""
import threading

import pytest
from django.db import connection

from pupils.models import Contact, Pupil
from pupils.roster import apply
from tests.factories import SchoolFactory
from tests.pupils.test_roster import rec


@pytest.mark.django_db(transaction=True)
def test_two_imports_of_the_same_roll_at_once_add_each_pupil_once():
    if connection.vendor == "sqlite" and connection.settings_dict["NAME"].startswith("file:memorydb"):
        pytest.skip("an in-memory SQLite database shared between threads reports 'table is locked' instead of waiting")
    school = SchoolFactory()
    start = threading.Barrier(2)
    results, errors = [], []

    def worker() -> None:
        try:
            start.wait()
            results.append(apply(school, [rec(n) for n in range(1, 41)], by=None, source="test", complete=True))
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted((r.added, r.unchanged) for r in results) == [(0, 40), (40, 0)]
    assert Pupil.objects.filter(school=school).count() == 40
    assert Contact.objects.filter(pupil__school=school).count() == 40
