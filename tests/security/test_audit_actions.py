"""The audit actions are a registry: every entry Doorstep writes names a member of
audit.actions.Action, each with a sentence a headteacher can read."""
import ast
import pathlib

import pytest

from attendance.models import ReferralCase
from audit.actions import Action, sentence
from audit.models import AuditEntry
from audit.services import UnknownAction, record, record_read
from people.admin import StaffMemberAdmin
from reports.models import Agreement

ROOT = pathlib.Path(__file__).resolve().parents[2]
SKIPPED = {".venv", "tests", "migrations", "node_modules", "var", "test-artifacts"}
# The calls that write an entry, and where their action is when it is not a keyword.
WRITERS = {"record": None, "record_read": None, "record_read_once": None, "record_read_today": None,
           "AuditEntry": None, "create": None, "_audit_entry": 2}


def _source_files():
    for path in sorted(ROOT.rglob("*.py")):
        if not SKIPPED & set(path.relative_to(ROOT).parts):
            yield path


def _parse(path):
    # CPython 3.11 keeps the AST builder's recursion counter per interpreter, not per thread
    # (python/cpython gh-106905): a traceback printed at the same moment by another thread of
    # this process (a live server's, when a browser test's page went away) can make ast.parse
    # raise SystemError. The file is fine; parsing it again is.
    for attempt in range(3):
        try:
            return ast.parse(path.read_text(), filename=str(path))
        except SystemError:
            if attempt == 2:
                raise


def _written_actions():
    """(where, the action expression) of every call that writes an audit entry."""
    for path in _source_files():
        tree = _parse(path)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name not in WRITERS:
                continue
            if name == "create" and not (isinstance(func.value, ast.Attribute)
                                         and getattr(func.value.value, "id", None) == "AuditEntry"):
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            for keyword in node.keywords:
                if keyword.arg == "action":
                    yield where, keyword.value
            position = WRITERS[name]
            if position is not None and len(node.args) > position:
                yield where, node.args[position]


def _parts(expression):
    """The alternatives of `a if c else b`, else the expression itself."""
    if isinstance(expression, ast.IfExp):
        return _parts(expression.body) + _parts(expression.orelse)
    return [expression]


def test_every_action_written_names_a_member_of_the_registry():
    seen, problems = set(), []
    for where, expression in _written_actions():
        for part in _parts(expression):
            if isinstance(part, ast.Attribute) and getattr(part.value, "id", None) == "Action":
                if part.attr not in Action.__members__:
                    problems.append(f"{where}: Action.{part.attr} is not in the registry")
                seen.add(part.attr)
            elif isinstance(part, ast.Call) and getattr(part.func, "id", None) == "Action":
                pass  # built from a model's states: test_actions_built_from_states_are_registered
            elif isinstance(part, ast.Name) or (isinstance(part, ast.Attribute) and part.attr == "value"
                                                and isinstance(part.value, (ast.Name, ast.Call))):
                pass  # passed through (record() itself, transition()'s MOVES): checked by registered()
            else:
                problems.append(f"{where}: {ast.unparse(part)} is not an Action member")
    assert not problems, "\n".join(problems)
    assert seen, "the scan found no writes at all: has the way entries are written changed?"


def test_actions_built_from_states_are_registered():
    for state in ReferralCase.State:
        if state != ReferralCase.State.OPEN:
            assert Action(f"referral.{state}")
    for status in (Agreement.Status.KEPT, Agreement.Status.BROKEN):
        assert Action(f"agreement.{status}")
    for inline in StaffMemberAdmin.inlines:
        for verb in ("added", "changed", "removed"):
            assert Action(f"staff.{inline.model._meta.model_name}_{verb}")


def test_every_action_has_a_plain_sentence_and_a_value_that_fits_the_column():
    width = AuditEntry._meta.get_field("action").max_length
    assert len(Action.__members__) == len(Action), "two members share a value"
    for action in Action:
        assert action.sentence and action.sentence[0].islower() and not action.sentence.endswith("."), action
        assert len(action.value) <= width, action
    assert Action.VISIT_APPROVED == "visit.approved"
    assert Action.VISIT_APPROVED.sentence == "approved the visit"
    assert sentence("visit.approved") == "approved the visit"
    assert sentence("no.such.action") == ""  # an old entry's code is shown as it is


@pytest.mark.django_db
def test_record_refuses_an_action_not_in_the_registry():
    with pytest.raises(UnknownAction, match="'visit.teleported' is not an audit action"):
        record(actor=None, school=None, action="visit.teleported", obj=None, summary="s")
    assert not AuditEntry.objects.exists()


@pytest.mark.django_db
def test_a_read_of_a_record_says_which_action_it_is(coteford):
    with pytest.raises(TypeError, match="needs its action"):
        record_read(None, coteford.pupil, "pupil details")
    assert record_read(None, None, "something").action == "read"
