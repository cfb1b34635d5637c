"""The school's own policy on the policy page (issue 14, section 4): a draft from a preset,
changed on the form (a check-in interval and a clause), the diff, publishing a new version
that new proposals use, approved visits re-checked with the head told, a TOML upload refused
by line and key, and who may do it."""
from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AuditEntry
from notify.models import Channel, Message
from policies import drafts
from policies.models import PolicyDraft
from policies.services import policy_for
from tests.factories import Staffed
from visits import services

pytestmark = pytest.mark.django_db


class FormReader(HTMLParser):
    """What a browser would submit for the form posting to `action`: inputs (checkboxes only
    when checked), each select's chosen option, textareas."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action, self.inside, self.fields = action, False, []  # type: ignore[var-annotated]
        self._select: str | None = None
        self._first: str | None = None
        self._chosen = False

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("action") == self.action
        if not self.inside:
            return
        if tag == "input" and a.get("name") and a.get("type") != "file":
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.fields.append((a["name"], a.get("value") or ""))
        elif tag == "select":
            self._select, self._first, self._chosen = a["name"], None, False
        elif tag == "option" and self._select:
            if self._first is None:
                self._first = a.get("value", "")
            if "selected" in a:
                self.fields.append((self._select, a.get("value", "")))
                self._chosen = True

    def handle_endtag(self, tag):  # type: ignore[no-untyped-def]
        if tag == "select" and self._select:
            if not self._chosen:
                self.fields.append((self._select, self._first or ""))
            self._select = None
        if tag == "form":
            self.inside = False


def form_of(client: Client, url: str, action: str) -> dict[str, list[str]]:
    page = client.get(url)
    assert page.status_code == 200
    reader = FormReader(action)
    reader.feed(page.content.decode())
    data: dict[str, list[str]] = {}
    for name, value in reader.fields:
        data.setdefault(name, []).append(value)
    assert data, f"no form posting to {action} on {url}"
    return data


def signed_in(staff) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(staff.user)
    return client


EDITOR = reverse("policy_draft:editor")


def start_from_preset(client: Client, preset: str = "coteford") -> None:
    response = client.post(reverse("policy_draft:start"), {"source": preset})
    assert response.status_code == 302


def test_draft_from_preset_changed_on_the_form_diffed_published_and_used(coteford: Staffed) -> None:
    head = signed_in(coteford.head)
    start_from_preset(head)
    data = form_of(head, EDITOR, EDITOR)
    assert data["value-check_in.interval_minutes"] == ["20"]
    assert data["clause-check_in.interval_minutes"] == ["C 2.4"]
    data["value-check_in.interval_minutes"] = ["15"]
    data["clause-check_in.interval_minutes"] = ["C 9.1"]
    saved = head.post(EDITOR, data)
    assert saved.status_code == 302, saved.content.decode()[:2000]

    review = head.get(reverse("policy_draft:review")).content.decode()
    assert "every 20 min" in review and "every 15 min" in review  # old → new
    assert "C 9.1" in review
    changes = drafts.diff(coteford.school.current_policy().load(),
                          drafts.check(PolicyDraft.objects.get(school=coteford.school).toml_text)[0])
    interval = [c for c in changes if c["key"] == "check_in.interval_minutes"]
    assert interval == [{"key": "check_in.interval_minutes", "setting": interval[0]["setting"], "old": "every 20 min",
                         "new": "every 15 min", "old_clause": "C 2.4", "new_clause": "C 9.1"}]

    refused = head.post(reverse("policy_draft:publish"), {"reason": "  "})
    assert refused.status_code == 302 and coteford.school.policy_versions.count() == 1

    head.post(reverse("policy_draft:publish"), {"reason": "Governors approved the spring review"})
    version = coteford.school.current_policy()
    assert version.version == 2 and version.reason == "Governors approved the spring review"
    assert version.created_by == coteford.head.user
    assert not PolicyDraft.objects.filter(school=coteford.school).exists()
    entry = AuditEntry.objects.filter(school=coteford.school, action="policy.adopted").latest("at")
    assert entry.reason == "Governors approved the spring review" and "policy page" in entry.summary

    visit = services.propose(coteford.officer, **coteford.visit_kwargs())
    assert policy_for(visit).check_in.interval_minutes.value == 15
    assert policy_for(visit).check_in.interval_minutes.clause == "C 9.1"


def test_a_bad_value_is_shown_next_to_its_setting_in_the_engines_words_and_nothing_changes(coteford: Staffed) -> None:
    head = signed_in(coteford.head)
    start_from_preset(head)
    before = PolicyDraft.objects.get(school=coteford.school).toml_text
    data = form_of(head, EDITOR, EDITOR)
    data["value-check_in.interval_minutes"] = ["0"]
    response = head.post(EDITOR, data)
    assert response.status_code == 400
    page = response.content.decode()
    assert "expected a whole number of minutes" in page
    start = page.index('id="setting-check_in.interval_minutes"')
    assert "expected a whole number of minutes" in page[start:start + 800]
    assert PolicyDraft.objects.get(school=coteford.school).toml_text == before


def test_a_clause_in_the_schools_own_numbering_says_how_to_use_it_and_saves_once_the_prefix_is_cleared(
        coteford: Staffed) -> None:
    head = signed_in(coteford.head)
    start_from_preset(head)
    data = form_of(head, EDITOR, EDITOR)
    assert data["meta-clause_prefix"] == ["C"]  # the preset's own numbering
    data["clause-check_in.interval_minutes"] = ["HV 4.2"]
    refused = head.post(EDITOR, data)
    assert refused.status_code == 400
    page = refused.content.decode()
    start = page.index('id="setting-check_in.interval_minutes"')
    assert "clear it, to number clauses your own way" in page[start:start + 1200]
    data["meta-clause_prefix"] = [""]
    saved = head.post(EDITOR, data)
    assert saved.status_code == 302, saved.content.decode()[:2000]
    policy = drafts.check(PolicyDraft.objects.get(school=coteford.school).toml_text)[0]
    assert policy is not None and policy.clause("check_in.interval_minutes") == "HV 4.2"


def test_approved_visits_are_rechecked_and_the_head_told_of_one_now_blocked(coteford: Staffed) -> None:
    visit = services.propose(coteford.officer, **coteford.visit_kwargs())
    services.approve(coteford.head, visit)
    visit.refresh_from_db()
    assert visit.state == "approved" and visit.policy_version.version == 1

    head = signed_in(coteford.head)
    start_from_preset(head)
    data = form_of(head, EDITOR, EDITOR)
    data["value-staffing.minimum"] = ["3"]  # the approved visit has two staff
    assert head.post(EDITOR, data).status_code == 302
    review = head.get(reverse("policy_draft:review")).content.decode()
    assert "allowed now, blocked by the draft" in review

    head.post(reverse("policy_draft:publish"), {"reason": "Three staff on every visit from now on"})
    visit.refresh_from_db()
    assert visit.policy_version.version == 1  # it keeps, and records, the version it was approved under
    told = Message.objects.filter(recipient=coteford.head, kind="policy.visits_blocked")
    assert {m.channel for m in told} == {Channel.IN_APP, Channel.EMAIL}
    email = told.get(channel=Channel.EMAIL)
    assert reverse("visits:detail", args=[visit.pk]) in email.body
    assert coteford.pupil.first_name not in email.body and coteford.pupil.last_name not in email.body
    entry = AuditEntry.objects.get(school=coteford.school, action="policy.visits_rechecked")
    assert entry.data["blocked"] == [visit.pk] and entry.data["told"] == ["Hana Head"]


def test_the_publication_stands_and_says_so_when_the_head_cannot_be_told(coteford: Staffed, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    visit = services.propose(coteford.officer, **coteford.visit_kwargs())
    services.approve(coteford.head, visit)
    head = signed_in(coteford.head)
    start_from_preset(head)
    data = form_of(head, EDITOR, EDITOR)
    data["value-staffing.minimum"] = ["3"]
    head.post(EDITOR, data)

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise ValueError("outbox unavailable")

    monkeypatch.setattr("visits.policy_change.notify", broken)
    head.post(reverse("policy_draft:publish"), {"reason": "Three staff on every visit"})
    assert coteford.school.current_policy().version == 2
    entry = AuditEntry.objects.get(school=coteford.school, action="policy.visits_rechecked")
    assert "outbox unavailable" in entry.data["problem"] and "nobody told" in entry.summary


def test_an_upload_with_a_bad_key_is_refused_naming_its_line_and_changes_nothing(coteford: Staffed) -> None:
    head = signed_in(coteford.head)
    start_from_preset(head)
    before = PolicyDraft.objects.get(school=coteford.school).toml_text
    text = before.replace("interval_minutes = ", "intervall_minutes = ")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.startswith("intervall_minutes"))
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = head.post(reverse("policy_draft:upload"),
                         {"file": SimpleUploadedFile("ours.toml", text.encode(), content_type="text/plain")})
    assert response.status_code == 400
    page = response.content.decode()
    assert f"Line {line}, check_in.intervall_minutes: unknown key" in page
    assert 'did you mean &quot;interval_minutes&quot;' in page
    assert PolicyDraft.objects.get(school=coteford.school).toml_text == before

    good = SimpleUploadedFile("ours.toml", before.replace('"C 2.4" }', '"C 2.4b" }', 1).encode())
    assert head.post(reverse("policy_draft:upload"), {"file": good}).status_code == 302
    assert "C 2.4b" in PolicyDraft.objects.get(school=coteford.school).toml_text


def test_a_toml_syntax_error_is_given_by_line() -> None:
    _, problems = drafts.check('[policy]\nname = "x"\nschool = "X"\nversion = "1"\n[check_in]\ninterval_minutes = {\n')
    assert problems and problems[0].line == 6


def test_a_teacher_cannot_change_the_policy(coteford: Staffed) -> None:
    teacher = signed_in(coteford.teacher)
    assert teacher.get(EDITOR).status_code == 403
    assert teacher.post(reverse("policy_draft:start"), {"source": "potton"}).status_code == 403
    assert teacher.post(reverse("policy_draft:publish"), {"reason": "x"}).status_code == 403
    assert not PolicyDraft.objects.exists()
    assert "Change the policy" not in teacher.get(reverse("policies:show")).content.decode()
    assert "Change the policy" in signed_in(coteford.head).get(reverse("policies:show")).content.decode()


def test_school_a_cannot_publish_for_school_b(coteford: Staffed, potton: Staffed) -> None:
    start_from_preset(signed_in(potton.head), "potton")
    head_a = signed_in(coteford.head)
    head_a.post(reverse("policy_draft:publish"), {"reason": "not ours"})
    assert potton.school.policy_versions.count() == 1
    assert PolicyDraft.objects.filter(school=potton.school).exists()
    with pytest.raises(Exception, match="Only the headteacher or business manager"):
        drafts.publish(coteford.head, potton.school, "not ours")
    assert potton.school.policy_versions.count() == 1


def test_set_policy_on_the_server_rechecks_approved_visits_too(coteford: Staffed, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from io import StringIO

    from django.core.management import call_command

    visit = services.propose(coteford.officer, **coteford.visit_kwargs())
    services.approve(coteford.head, visit)
    text = coteford.school.current_policy().toml_text.replace(
        'minimum = { value = 2, clause = "C 2.10" }', 'minimum = { value = 3, clause = "C 2.10" }')
    assert "value = 3" in text
    path = tmp_path / "ours.toml"
    path.write_text(text)
    out = StringIO()
    call_command("set_policy", str(path), school=coteford.school.name, stdout=out)
    assert "1 visit(s) already approved would not be allowed" in out.getvalue()
    email = Message.objects.get(recipient=coteford.head, kind="policy.visits_blocked", channel=Channel.EMAIL)
    assert email.body.startswith("Someone on the server (doorstep set_policy) published version 2")


def test_a_draft_is_published_once_when_two_heads_press_publish(coteford: Staffed) -> None:
    from django.core.exceptions import ValidationError

    drafts.start_draft(coteford.head, coteford.school, "potton")
    drafts.publish(coteford.head, coteford.school, "first")
    with pytest.raises(ValidationError, match="no draft to publish"):
        drafts.publish(coteford.sbm, coteford.school, "second")
    assert coteford.school.current_policy().version == 2
