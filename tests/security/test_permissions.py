"""Who may do what to a visit: roles from people.permissions, approvers from the school's policy."""
import pytest

from visits import services
from visits.models import Visit

from tests.factories import compliant_staff

pytestmark = pytest.mark.django_db


def proposed(school, **kwargs):
    return services.propose(school.officer, **school.visit_kwargs(**kwargs))


def test_office_staff_cannot_approve_and_are_told_who_can(coteford):
    visit = proposed(coteford)
    with pytest.raises(services.NotAllowed) as error:
        services.approve(coteford.office, visit)
    assert "school office" in str(error.value) and "headteacher" in str(error.value)
    visit.refresh_from_db()
    assert visit.state == Visit.State.PROPOSED


@pytest.mark.parametrize("role", ["teacher", "officer", "family", "dsl", "sbm"])
def test_staff_other_than_leaders_cannot_approve(coteford, role):
    with pytest.raises(services.NotAllowed):
        services.approve(getattr(coteford, role), proposed(coteford))


def test_a_deputy_can_approve_at_coteford_where_the_policy_names_deputies(coteford):
    visit = proposed(coteford)
    services.approve(coteford.deputy, visit)
    assert visit.state == Visit.State.APPROVED


def test_a_deputy_cannot_approve_at_potton_and_the_refusal_cites_the_clause(potton):
    visit = proposed(potton)
    with pytest.raises(services.NotAllowed) as error:
        services.approve(potton.deputy, visit)
    assert "P §3¶4" in str(error.value) and "headteacher" in str(error.value)
    services.approve(potton.head, visit)
    assert visit.state == Visit.State.APPROVED


def test_only_leaders_decline(coteford):
    visit = proposed(coteford)
    with pytest.raises(services.NotAllowed):
        services.decline(coteford.officer, visit, reason="no")
    services.decline(coteford.deputy, visit, reason="Meet in school first.")
    assert visit.state == Visit.State.DECLINED


def test_only_the_headteacher_overrides_a_rule_or_authorises_a_lone_visit(potton):
    visit = proposed(potton, staff=[potton.officer])
    for person in (potton.deputy, potton.dsl, potton.office, potton.officer):
        with pytest.raises(services.NotAllowed):
            services.authorise_lone_visit(person, visit, reason="Known family")
    services.authorise_lone_visit(potton.head, visit, reason="Known family")
    assert visit.overrides.get().by == potton.head


def test_only_the_headteacher_signs_the_visit_list(coteford):
    visit_list = services.create_visit_list(coteford.office, title="Week 1", visits=[proposed(coteford)])
    for person in (coteford.deputy, coteford.office, coteford.sbm):
        with pytest.raises(services.NotAllowed, match="sign the visit list"):
            services.sign_visit_list(person, visit_list)
    services.sign_visit_list(coteford.head, visit_list)


def test_the_office_cannot_propose_a_visit(coteford):
    with pytest.raises(services.NotAllowed):
        proposed_by = coteford.office
        services.propose(proposed_by, **coteford.visit_kwargs())


def test_a_teacher_may_withdraw_only_visits_they_proposed_or_are_going_on(coteford):
    visit = services.propose(coteford.officer, **coteford.visit_kwargs(staff=[coteford.officer, coteford.dsl]))
    with pytest.raises(services.NotAllowed, match="only withdraw visits that you proposed or are going on"):
        services.withdraw(coteford.teacher, visit, reason="no")
    on_it = services.propose(coteford.officer, **coteford.visit_kwargs())  # the teacher goes on this one
    services.withdraw(coteford.teacher, on_it, reason="The pupil is back in school.")
    assert on_it.state == Visit.State.WITHDRAWN


def test_staff_of_another_school_cannot_act_on_a_visit(coteford, potton):
    visit = proposed(coteford)
    with pytest.raises(services.NotAllowed, match="another school"):
        services.approve(potton.head, visit)
    with pytest.raises(services.NotAllowed):
        services.cancel(potton.office, visit, reason="x")


def test_someone_who_has_left_cannot_act(coteford):
    visit = proposed(coteford)
    coteford.head.active = False
    coteford.head.save()
    with pytest.raises(services.NotAllowed, match="not on the active staff"):
        services.approve(coteford.head, visit)


def test_a_headteacher_who_is_also_the_dsl_can_go_on_a_child_protection_visit_at_potton(potton):
    head_dsl = compliant_staff(potton.school, "headteacher", "dsl")
    visit = services.propose(potton.officer, **potton.visit_kwargs(purpose="child_protection",
                                                                   staff=[potton.officer, head_dsl]))
    services.approve(potton.head, visit)
    assert visit.state == Visit.State.APPROVED
