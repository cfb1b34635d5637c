"""What the DSL's and the business manager's journeys found and mended, each checked quickly
without a browser (the journeys walk the concern list and the way back to a visit in Chromium)."""
import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.actions import Action
from audit.models import AuditEntry
from notify.models import Channel, Message
from reports import services as report_services
from reports.models import Concern
from visits import services as visit_services
from visits.models import Visit

from tests.factories import Staffed, VisitFactory
from tests.records_support import ended_visit, report_data

pytestmark = pytest.mark.django_db


def _concern(school: Staffed, details: str) -> Concern:
    report_services.submit_report(school.officer, ended_visit(school), report_data(safeguarding_concern=details))
    return Concern.objects.get(details=details)


def test_the_dsl_lists_the_schools_concerns_newest_first_and_sees_which_nobody_has_read(client, coteford):
    older = _concern(coteford, "Ava said she is often left alone overnight.")
    Concern.objects.filter(pk=older.pk).update(raised_at=timezone.now() - datetime.timedelta(days=3))
    newer = _concern(coteford, "Bruises on Ava's arm she would not explain.")
    client.force_login(coteford.head.user)
    client.get(reverse("reports:concern", args=[older.pk]))

    client.force_login(coteford.dsl.user)
    home = client.get(reverse("home")).content.decode()
    assert f'href="{reverse("reports:concerns")}"' in home
    page = client.get(reverse("reports:concerns")).content.decode()
    listed = re.findall(r'href="/reports/concerns/(\d+)/"', page)
    assert listed == [str(newer.pk), str(older.pk)]
    raised = timezone.localtime(Concern.objects.get(pk=older.pk).raised_at)
    assert f"Raised by {coteford.officer.full_name} on {raised:%A %-d %B %Y, %H:%M}" in page
    assert f"First read by {coteford.head.full_name} on " in page
    assert page.count("Not read yet") == 1
    assert "Ava said she is often" not in page  # the details are behind the audited page, not on the list
    assert AuditEntry.objects.filter(actor=coteford.dsl.user, action=Action.CONCERN_LIST_VIEWED).count() == 1


def test_the_concern_list_is_for_those_who_read_concerns(client, coteford):
    client.force_login(coteford.office.user)
    assert client.get(reverse("reports:concerns")).status_code == 403
    assert 'href="/reports/concerns/"' not in client.get(reverse("home")).content.decode()


def test_opening_a_concern_marks_its_message_read_for_that_person_only(client, coteford):
    concern = _concern(coteford, "Ava said an older cousin hits her.")
    link = reverse("reports:concern", args=[concern.pk])
    mine = Message.objects.get(recipient=coteford.dsl, channel=Channel.IN_APP, link=link)
    assert mine.read_at is None
    client.force_login(coteford.dsl.user)
    client.get(link)
    mine.refresh_from_db()
    assert mine.read_at is not None
    assert Message.objects.filter(link=link, channel=Channel.IN_APP, read_at__isnull=True).exclude(
        recipient=coteford.dsl).count() == Message.objects.filter(link=link, channel=Channel.IN_APP).count() - 1
    entry = AuditEntry.objects.get(actor=coteford.dsl.user, action=Action.CONCERN_VIEWED)
    assert entry.data["messages_read"] == 1
    inbox = client.get(reverse("notify:inbox")).content.decode()
    assert "Safeguarding concern raised on a home visit" not in inbox  # unread only, by default


def test_a_register_fix_carries_the_visit_and_offers_the_way_back_after_saving(client, coteford):
    coteford.teacher.dbs_checks.all().delete()
    visit = VisitFactory(school=coteford.school, pupil=coteford.pupil, staff=[coteford.officer, coteford.teacher],
                         proposed_by=coteford.officer, appointment_agreed=True)
    detail = reverse("visits:detail", args=[visit.pk])
    client.force_login(coteford.sbm.user)
    page = client.get(detail).content.decode()
    record = reverse("people:staff_detail", args=[coteford.teacher.pk])
    fix = f"{record}?next=%2Fvisits%2F{visit.pk}%2F"
    assert f'href="{fix}"' in page

    add = reverse("people:staff_row_add", args=[coteford.teacher.pk, "dbs"]) + f"?next=%2Fvisits%2F{visit.pk}%2F"
    assert f'href="{add}"' in client.get(fix).content.decode()
    saved = client.post(add, {"level": "enhanced", "barred_list_checked": "on", "certificate_number": "001234567890",
                              "issued_on": (timezone.localdate() - datetime.timedelta(days=30)).isoformat()},
                        follow=True)
    assert saved.redirect_chain[-1][0] == fix
    text = saved.content.decode()
    assert "Saved the DBS check." in text
    assert f'<a href="{detail}">Back to the visit</a>' in text


@pytest.mark.parametrize("target", ["https://evil.example/visits/1/", "//evil.example/", "/\\evil.example"])
def test_the_way_back_is_only_ever_a_path_on_doorstep(client, coteford, target):
    client.force_login(coteford.sbm.user)
    page = client.get(reverse("people:staff_detail", args=[coteford.teacher.pk]), {"next": target}).content.decode()
    assert 'id="back"' not in page and "evil.example" not in page


def test_the_dsl_is_not_offered_withdraw_on_a_colleagues_proposal_and_a_press_is_refused_in_words(client, coteford):
    visit = visit_services.propose(coteford.officer, **coteford.visit_kwargs())
    client.force_login(coteford.dsl.user)
    page = client.get(reverse("visits:detail", args=[visit.pk])).content.decode()
    assert "Withdraw this visit" not in page
    refused = client.post(reverse("visits:withdraw", args=[visit.pk]), {"withdraw-reason": "Not needed."})
    assert refused.status_code == 403
    assert "You can only withdraw visits that you proposed or are going on; whoever proposed this one, " \
           "or the headteacher or deputy, can withdraw it." in refused.content.decode()
    visit.refresh_from_db()
    assert visit.state == Visit.State.PROPOSED
    # Their own proposal, and a leader on anyone's, still can.
    own = visit_services.propose(coteford.dsl, **coteford.visit_kwargs(staff=[coteford.dsl, coteford.officer]))
    assert "Withdraw this visit" in client.get(reverse("visits:detail", args=[own.pk])).content.decode()
    client.force_login(coteford.deputy.user)
    assert "Withdraw this visit" in client.get(reverse("visits:detail", args=[visit.pk])).content.decode()


@pytest.mark.parametrize("preset,who", [("coteford", "school business manager (Sam Business) writes it"),
                                        ("potton", "headteacher (Hana Head) writes it")])
def test_the_risk_link_names_the_writer_the_policy_names(client, preset, who):
    school = Staffed(preset)
    school.home_ra.delete()
    visit = VisitFactory(school=school.school, pupil=school.pupil, staff=[school.officer, school.teacher],
                         proposed_by=school.officer, appointment_agreed=True)
    client.force_login(school.officer.user)
    page = client.get(reverse("visits:detail", args=[visit.pk])).content.decode()
    clause = {"coteford": "C 2.5", "potton": "P §4¶4"}[preset]
    assert f"Record the home-visit risk assessment: under this school&#x27;s policy ({clause}) the {who}" in page
    assert "the business manager or the headteacher does this" not in page
