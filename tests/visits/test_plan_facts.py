"""The approvals inbox reads what the policy is told about all its proposals at once
(visits.services.PlanFacts); each proposal must still be judged exactly as its own page judges
it, or the head would approve from the inbox what the visit page blocks."""
import datetime

import pytest
from django.utils import timezone

from visits import services

from tests.factories import (
    HouseholdNoteFactory, OverrideFactory, PupilFactory, VisitFactory, VisitListFactory, compliant_staff, home_visit_ra,
    lone_working_ra,
)

pytestmark = pytest.mark.django_db


def test_each_proposal_in_the_inbox_is_judged_as_its_own_page_judges_it(potton):
    alone = VisitFactory(school=potton.school, pupil=potton.pupil, staff=[potton.officer], proposed_by=potton.officer)
    lone_working_ra(potton.officer, safe_word="bluebell", reviewed_at=timezone.now() - datetime.timedelta(days=3))
    lone_working_ra(potton.officer, safe_word="", reviewed_at=timezone.now() - datetime.timedelta(days=30))
    OverrideFactory(visit=alone, by=potton.head)

    # A risk recorded since the assessment, a dangerous dog, and a driver's car.
    risky = PupilFactory(school=potton.school)
    home_visit_ra(risky, author=potton.head, reviewed_at=timezone.now() - datetime.timedelta(days=5))
    HouseholdNoteFactory(pupil=risky, kind="animals", dangerous=True)
    driver = compliant_staff(potton.school, "teacher", vehicle=True)
    pair = VisitFactory(school=potton.school, pupil=risky, staff=[driver, potton.dsl], proposed_by=driver)

    # On a list the headteacher signed; nobody has assessed this home.
    listed = VisitFactory(school=potton.school, staff=[potton.teacher, potton.family], proposed_by=potton.teacher,
                          visit_list=VisitListFactory(school=potton.school, signed_by=potton.head,
                                                      signed_at=timezone.now()))

    visits = [alone, pair, listed]
    facts = services.PlanFacts.gather(visits)
    for visit in visits:
        assert services.visit_plan(visit, facts) == services.visit_plan(visit)
    alone_plan, pair_plan, listed_plan = (services.visit_plan(v, facts) for v in visits)
    assert alone_plan["lone_visit_authorised_by_headteacher"] is True
    assert alone_plan["risk_assessment"]["lone_working_safe_word_recorded"] is True  # the newest assessment
    assert pair_plan["risk_assessment"]["new_risk_since"] is True
    assert pair_plan["household"] == {"dangerous_animals": True}
    assert "vehicle" in pair_plan["staff"][0]
    assert listed_plan["visit_list_signed_by_headteacher"] is True
    assert listed_plan["risk_assessment"]["home_visit_done_on"] is None
