"""The timing rules of a visit under way (policies/timing.py), against every preset's rows of
the policy matrix (sections 5 and 6), and the watchdog/simulator agreement over random visits."""
import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policy_engine.schema import DEFAULT_LADDER, PRESETS, Policy, load_policy
from policy_engine.timing import (
    EVENT_TYPES, Event, SimulationError, checked_out, escalation_steps, next_deadline, reminder_lead, simulate,
    timeline,
)

POLICIES = {name: load_policy(name) for name in PRESETS}
DAY = datetime.date(2026, 11, 23)
START, END = "10:00", "10:45"


def t(hhmm: str) -> datetime.datetime:
    return datetime.datetime.combine(DAY, datetime.time.fromisoformat(hhmm))


def ev(hhmm, type, staff=None, back=None):
    return Event(at=t(hhmm), type=type, staff=staff, expected_return=t(back) if back else None)


def deadline(name, events, start=START, end=END, staff=()):
    return next_deadline(POLICIES[name], t(start), t(end), events, staff)


def lines(name, events, until, start=START, end=END, staff=()):
    """The timeline as (HH:MM, kind, clause) for easy comparison."""
    return [(e.at.strftime("%H:%M"), e.kind, e.clause)
            for e in timeline(POLICIES[name], t(start), t(end), events, t(until), staff)]


def entries(name, events, until, kind, start=START, end=END, staff=()):
    return [e for e in timeline(POLICIES[name], t(start), t(end), events, t(until), staff) if e.kind == kind]


ON_THE_WAY = [ev("09:50", "left_school", back="11:15")]
INSIDE = ON_THE_WAY + [ev("09:58", "arrived"), ev("10:00", "entered")]


# Coteford: leaving check-in, arrival check-in, every 20 minutes, 20-minute wait, 30-minute limit --------

def test_coteford_expects_word_on_leaving_school_by_the_scheduled_start():
    d = deadline("coteford", [])
    assert (d.kind, d.due_at, d.alert_at, d.clause, d.what) == ("check_in_due", t("10:00"), t("10:05"), "C 3.10",
                                                                "leaving-school check-in")


def test_coteford_expects_the_arrival_check_in_at_the_scheduled_start():
    d = deadline("coteford", ON_THE_WAY)
    assert (d.what, d.due_at, d.alert_at, d.reminder_at, d.clause) == (
        "arrival check-in", t("10:00"), t("10:05"), t("09:55"), "C 2.4")


def test_coteford_inside_the_home_a_check_in_is_due_every_20_minutes_from_the_last_word():
    d = deadline("coteford", INSIDE)
    assert (d.what, d.due_at, d.alert_at, d.reminder_at, d.clause) == (
        "check-in (every 20 minutes)", t("10:20"), t("10:25"), t("10:15"), "C 2.4")
    assert deadline("coteford", INSIDE + [ev("10:17", "check_in")]).due_at == t("10:37")
    timed = [x for x in lines("coteford", INSIDE + [ev("10:19", "check_in"), ev("10:38", "check_in")], "10:44")
             if x[1] != "reminder"]
    assert timed == []  # every check-in came in time: nothing to say


def test_coteford_missed_check_in_goes_overdue_after_grace_and_climbs_its_ladder():
    got = lines("coteford", INSIDE + [ev("10:19", "check_in")], "11:30")
    assert got == [
        ("09:55", "reminder", "default"),  # the arrival check-in
        ("10:15", "reminder", "default"),
        ("10:34", "reminder", "default"),
        ("10:39", "check_in_due", "C 2.4"),
        ("10:44", "overdue", "C 2.4"),
        ("10:44", "escalation", "C 2.4"),
        ("10:49", "escalation", "C 2.4"),
        ("10:59", "escalation", "default"),
        ("11:09", "escalation", "default"),
    ]
    steps = entries("coteford", INSIDE + [ev("10:19", "check_in")], "11:30", "escalation")
    assert [s.level for s in steps] == ["amber", "amber", "red", "red"]
    assert "office" in steps[0].message and "deputy headteacher" in steps[1].message
    assert "police" in steps[2].message and "everyone" in steps[3].message


def test_coteford_absent_parent_allows_not_seen_after_20_minutes_with_the_card():
    events = ON_THE_WAY + [ev("10:00", "arrived"), ev("10:00", "parent_not_home")]
    [card] = entries("coteford", events, "10:40", "not_seen_allowed")
    assert (card.at, card.clause, card.level) == (t("10:20"), "C 3.4", "info")
    assert "card" in card.message
    # and the party at the door is watched: the interval and the end of the wait are both 10:20
    assert deadline("coteford", events).due_at == t("10:20")


def test_coteford_parent_arriving_during_the_wait_cancels_the_not_seen_entry():
    events = ON_THE_WAY + [ev("10:00", "arrived"), ev("10:00", "parent_not_home"), ev("10:12", "entered")]
    assert entries("coteford", events, "10:40", "not_seen_allowed") == []


def test_coteford_late_parent_limit_is_30_minutes_and_staff_must_not_go_in_first():
    events = ON_THE_WAY + [ev("10:00", "arrived"), ev("10:02", "parent_late_notice")]
    [limit] = entries("coteford", events, "10:45", "late_limit_reached")
    assert (limit.at, limit.clause) == (t("10:30"), "C 3.5")  # 30 minutes after the arranged 10:00
    assert "must not go in before the parent arrives" in limit.message


def test_coteford_pair_visit_either_may_check_in_and_it_is_safe_only_when_both_have_left():
    staff = ("Sam Ali", "Jo Bell")
    inside = [ev("09:50", "left_school"), ev("09:58", "arrived"), ev("10:00", "entered")]
    assert deadline("coteford", inside + [ev("10:15", "check_in", "Jo Bell")], staff=staff).due_at == t("10:35")
    one_left = inside + [ev("10:30", "left_home", "Sam Ali")]
    d = deadline("coteford", one_left, staff=staff)
    assert d is not None and d.staff == "Jo Bell"
    assert deadline("coteford", one_left + [ev("10:40", "left_home", "Jo Bell")], staff=staff) is None
    assert deadline("coteford", inside + [ev("10:40", "left_home")], staff=staff) is None  # no staff: the whole party


# Potton: office call 10 minutes after the start, 15-minute wait, code word ------------------------------

def test_potton_office_calls_10_minutes_after_the_start_without_reminding_the_staff():
    d = deadline("potton", INSIDE)
    assert (d.kind, d.due_at, d.alert_at, d.reminder_at, d.clause) == (
        "office_call_due", t("10:10"), t("10:15"), None, "P §4¶7")
    [call] = entries("potton", INSIDE, "10:12", "office_call_due")
    assert call.message.startswith("Office: call")
    assert reminder_lead(POLICIES["potton"], "office_call_due") is None


def test_potton_office_call_is_met_by_a_check_in_recorded_after_the_start_only():
    assert deadline("potton", INSIDE + [ev("10:09", "check_in")]).what == "leaving-home check-in"
    early = ON_THE_WAY + [ev("09:55", "check_in"), ev("09:58", "arrived")]
    assert deadline("potton", early).kind == "office_call_due"


def test_potton_unanswered_office_call_alerts_at_grace_and_escalates_to_headteacher_then_police():
    got = lines("potton", INSIDE, "10:45")
    assert got[:6] == [
        ("10:10", "office_call_due", "P §4¶7"),
        ("10:15", "overdue", "P §4¶7"),
        ("10:15", "escalation", "P §4¶7"),
        ("10:20", "escalation", "P §3¶10"),
        ("10:30", "escalation", "P §3¶10"),
        ("10:40", "escalation", "default"),
    ]
    steps = entries("potton", INSIDE, "10:45", "escalation")
    assert [s.level for s in steps] == ["amber", "amber", "red", "red"]


def test_potton_late_call_answer_stops_the_escalation():
    got = lines("potton", INSIDE + [ev("10:18", "check_in")], "10:30")
    assert ("10:18", "contact_restored", "P §4¶7") in got
    assert [x for x in got if x[1] == "escalation"] == [("10:15", "escalation", "P §4¶7")]


def test_potton_absent_parent_wait_is_15_minutes():
    events = ON_THE_WAY + [ev("10:00", "arrived"), ev("10:01", "parent_not_home")]
    [card] = entries("potton", events, "10:30", "not_seen_allowed")
    assert (card.at, card.clause) == (t("10:16"), "P §3¶6")
    assert "card" not in card.message  # Potton leaves no card


def test_potton_sets_no_late_limit_but_still_watches_the_door_by_default():
    events = ON_THE_WAY + [ev("10:00", "arrived"), ev("10:00", "parent_late_notice"), ev("10:10", "check_in")]
    assert entries("potton", events, "11:00", "late_limit_reached") == []
    d = deadline("potton", events)
    assert (d.due_at, d.clause) == (t("10:30"), "default") and "door" in d.what


def test_potton_code_word_raises_an_alarm_straight_to_the_top_step():
    events = INSIDE + [ev("10:05", "check_in"), ev("10:07", "code_word")]
    got = [x for x in lines("potton", events, "10:08")]
    assert got == [("10:07", "alarm", "P §4¶7"), ("10:07", "escalation", "default")]
    alarm, top = timeline(POLICIES["potton"], t(START), t(END), events, t("10:08"))
    assert alarm.level == top.level == "red"
    assert "step 4 of 4" in top.message and "everyone" in top.message


# Priory: enquiries and a card at once; default ladder ---------------------------------------------------

def test_priory_absent_parent_allows_not_seen_at_once_with_the_card():
    events = ON_THE_WAY + [ev("10:00", "arrived"), ev("10:03", "parent_not_home")]
    [card] = entries("priory", events, "10:30", "not_seen_allowed")
    assert (card.at, card.clause) == (t("10:03"), "Pr 4.3") and "card" in card.message
    d = deadline("priory", events)  # still watched at the door: Doorstep's own 10 minutes
    assert (d.due_at, d.clause) == (t("10:13"), "default")


def test_priory_expects_word_on_leaving_school_and_on_leaving_the_home():
    assert deadline("priory", []).clause == "Pr 2.3"
    d = deadline("priory", INSIDE)
    assert (d.what, d.due_at, d.clause) == ("leaving-home check-in", t("10:45"), "Pr 4.8")
    assert deadline("priory", INSIDE + [ev("10:40", "left_home")]) is None


def test_priory_is_silent_on_escalation_so_doorstep_default_ladder_applies():
    steps = entries("priory", INSIDE, "11:30", "escalation")
    assert [(s.at, s.clause) for s in steps] == [
        (t("10:50"), "default"), (t("10:55"), "default"), (t("11:05"), "default"), (t("11:15"), "default")]
    assert [s.level for s in steps] == ["amber", "amber", "red", "red"]


def test_priory_has_no_late_limit():
    events = ON_THE_WAY + [ev("10:00", "arrived"), ev("10:00", "parent_late_notice")]
    assert entries("priory", events, "11:00", "late_limit_reached") == []


# The Willows: 10-minute wait, 30-minute limit, and Doorstep's default back-safe deadline --------------

def test_willows_default_back_safe_deadline_is_the_expected_return():
    d = deadline("willows", INSIDE)
    assert (d.kind, d.due_at, d.alert_at, d.reminder_at, d.clause) == (
        "back_safe_due", t("11:15"), t("11:20"), t("11:10"), "default")


def test_willows_default_back_safe_deadline_falls_back_to_the_scheduled_end():
    d = deadline("willows", [ev("09:50", "left_school"), ev("10:00", "arrived")])
    assert (d.kind, d.due_at, d.clause) == ("back_safe_due", t("10:45"), "default")
    assert deadline("willows", []).due_at == t("10:45")  # watched even before any word


def test_willows_visit_is_safe_once_staff_leave_the_home_or_are_back():
    assert deadline("willows", INSIDE + [ev("10:40", "left_home")]) is None
    assert deadline("willows", INSIDE + [ev("11:00", "back_safe")]) is None


def test_willows_waits_10_minutes_and_allows_30_for_a_late_parent():
    events = ON_THE_WAY + [ev("10:00", "arrived"), ev("10:00", "parent_not_home")]
    [card] = entries("willows", events, "10:30", "not_seen_allowed")
    assert (card.at, card.clause) == (t("10:10"), "W 3.2")
    d = deadline("willows", events)
    assert (d.due_at, d.clause) == (t("10:10"), "W 3.2")  # the end of the wait is watched
    late = ON_THE_WAY + [ev("10:00", "arrived"), ev("10:05", "parent_late_notice")]
    [limit] = entries("willows", late, "11:00", "late_limit_reached")
    assert (limit.at, limit.clause) == (t("10:30"), "W 3.3")  # from the arranged time, not the 10:05 call


def test_willows_default_grace_is_five_minutes():
    [overdue] = entries("willows", INSIDE, "11:21", "overdue")
    assert (overdue.at, overdue.level, overdue.clause) == (t("11:20"), "amber", "default")


# St Hugh's: every 2 hours, 10-minute wait, back safe, safe word ----------------------------------------

def test_st_hughs_inside_a_check_in_is_due_every_120_minutes():
    events = [ev("09:30", "left_school", back="13:30"), ev("10:00", "arrived"), ev("10:05", "entered")]
    d = deadline("st-hughs", events, end="13:00")
    assert (d.what, d.due_at, d.alert_at, d.reminder_at, d.clause) == (
        "check-in (every 120 minutes)", t("12:05"), t("12:10"), t("12:00"), "H §3¶5")
    assert deadline("st-hughs", events + [ev("11:00", "check_in")], end="13:00").due_at == t("13:00")


def test_st_hughs_absent_parent_wait_is_10_minutes():
    events = ON_THE_WAY + [ev("10:00", "arrived"), ev("10:00", "parent_not_home")]
    [card] = entries("st-hughs", events, "10:30", "not_seen_allowed")
    assert (card.at, card.clause) == (t("10:10"), "H §4¶4")


def test_st_hughs_expects_back_safe_after_leaving_the_home():
    d = deadline("st-hughs", INSIDE + [ev("10:40", "left_home")])
    assert (d.kind, d.due_at, d.clause) == ("back_safe_due", t("11:15"), "H summary, After")
    assert deadline("st-hughs", INSIDE + [ev("10:40", "left_home"), ev("11:05", "back_safe")]) is None


def test_st_hughs_leaving_late_still_allows_time_to_get_back():
    d = deadline("st-hughs", INSIDE + [ev("11:10", "left_home")])
    assert d.due_at == t("11:40")


def test_st_hughs_pair_is_safe_only_when_both_are_back():
    staff = ("Sam Ali", "Jo Bell")
    events = INSIDE + [ev("10:40", "left_home"), ev("11:00", "back_safe", "Sam Ali")]
    d = deadline("st-hughs", events, staff=staff)
    assert (d.kind, d.staff) == ("back_safe_due", "Jo Bell")
    assert deadline("st-hughs", events + [ev("11:10", "back_safe", "Jo Bell")], staff=staff) is None


def test_st_hughs_safe_word_and_panic_go_straight_to_the_top_step():
    for kind, clause in [("code_word", "H threatened ¶4-5"), ("panic", "H §3¶9")]:
        got = lines("st-hughs", INSIDE + [ev("10:20", kind)], "10:21")
        assert got == [("10:20", "alarm", clause), ("10:20", "escalation", "default")]


# Doorstep's defaults and the building blocks -------------------------------------------------------------

def test_grace_and_reminder_lead_follow_the_policy_file():
    policy = Policy.from_toml('[policy]\nname = "ours"\nschool = "Ours"\nversion = "1"\n'
                              '[check_in]\ninterval_minutes = { value = 6, clause = "§2" }\n'
                              'grace_minutes = { value = 12, clause = "§3" }\n')
    d = next_deadline(policy, t("10:00"), t("11:00"), INSIDE)
    assert (d.due_at, d.alert_at, d.reminder_at) == (t("10:06"), t("10:18"), t("10:03"))  # lead: half of 6
    assert reminder_lead(policy, "check_in_due") == 3
    assert reminder_lead(POLICIES["coteford"], "check_in_due") == 5


def test_escalation_steps_wait_each_steps_acknowledge_deadline_and_stop_at_the_last():
    steps = escalation_steps(DEFAULT_LADDER, t("10:00"))
    assert [(i, at) for i, at, _ in steps] == [(0, t("10:00")), (1, t("10:05")), (2, t("10:15")), (3, t("10:25"))]
    assert [(i, at) for i, at, _ in escalation_steps(DEFAULT_LADDER, t("10:00"), from_step=2)] == [
        (2, t("10:00")), (3, t("10:10"))]
    assert escalation_steps(DEFAULT_LADDER, t("10:00"), from_step=3)[0][2]["notify"] == ["everyone"]


def test_a_deadline_already_past_when_it_comes_into_force_alerts_at_once():
    # Left school half an hour late: the arrival check-in was due at the start.
    got = lines("coteford", [ev("10:30", "left_school")], "10:31")
    assert ("10:30", "overdue", "C 2.4") in got


def test_simulate_refuses_bad_input_naming_every_field():
    data = {"starts_at": "2026-11-23T10:00", "ends_at": "2026-11-23T10:45", "until": "2026-11-23T11:00",
            "staff": ["Sam Ali", "Jo Bell"], "colour": "red",
            "events": [{"at": "2026-11-23T10:05", "type": "arrived"},
                       {"at": "2026-11-23T10:01", "type": "entered"},
                       {"at": "2026-11-23T10:10", "type": "chek_in"},
                       {"at": "2026-11-23T10:11", "type": "check_in", "staff": "Pat Moss"},
                       {"at": "2026-11-23T10:12", "type": "arrived", "expected_return": "2026-11-23T11:00"},
                       {"at": "2026-11-23 10:13", "type": "arrived"},
                       {"at": "2026-11-23T12:00", "type": "back_safe"}]}
    with pytest.raises(SimulationError) as caught:
        simulate(POLICIES["coteford"], data)
    fields = [f for f, _ in caught.value.errors]
    assert fields == ["colour", "events[1].at", "events[2].type", "events[3].staff", "events[4].expected_return",
                      "events[5].at", "events[6].at"]
    assert 'did you mean "check_in"' in str(caught.value)


def test_simulate_prints_the_timeline_and_the_deadline_the_watchdog_would_hold():
    out = simulate(POLICIES["willows"], {"starts_at": "2026-11-23T10:00", "ends_at": "2026-11-23T10:45",
                                         "until": "2026-11-23T11:21",
                                         "events": [{"at": "2026-11-23T09:50", "type": "left_school",
                                                     "expected_return": "2026-11-23T11:15"}]})
    assert out["policy"] == "willows"
    assert out["timeline"][0] == {"at": "2026-11-23T11:10", "kind": "reminder", "level": "info", "clause": "default",
                                  "message": "Reminder to the visiting staff: back-safe check-in due at 11:15."}
    assert [e["kind"] for e in out["timeline"]] == ["reminder", "back_safe_due", "overdue", "escalation"]
    assert out["next_deadline"]["alert_at"] == "2026-11-23T11:20"


# The watchdog and the simulator agree (hypothesis) ---------------------------------------------------

PAIR = ("Sam Ali", "Jo Bell")


@st.composite
def visits(draw):
    name = draw(st.sampled_from(PRESETS))
    staff = draw(st.sampled_from([(), PAIR]))
    at = t("09:30")
    events = []
    for _ in range(draw(st.integers(0, 9))):
        at += datetime.timedelta(minutes=draw(st.integers(0, 35)))
        kind = draw(st.sampled_from(EVENT_TYPES))
        who = draw(st.sampled_from((None,) + staff))
        back = at + datetime.timedelta(minutes=draw(st.integers(10, 120))) if kind == "left_school" and draw(st.booleans()) else None
        events.append(Event(at=at, type=kind, staff=who, expected_return=back))
    until = at + datetime.timedelta(minutes=draw(st.integers(0, 150)))
    return POLICIES[name], events, until, staff


AGREE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@AGREE
@given(visits())
def test_timeline_alerts_exactly_when_the_watchdogs_deadline_says(visit):
    policy, events, until, staff = visit
    starts_at, ends_at = t(START), t(END)
    got = timeline(policy, starts_at, ends_at, events, until, staff)
    assert [e.at for e in got] == sorted(e.at for e in got)
    assert all(e.at <= until for e in got)
    # Every overdue and due entry is the deadline the watchdog would hold at that moment.
    for entry in got:
        if entry.kind in ("overdue", "check_in_due", "office_call_due", "back_safe_due"):
            held = [e for e in events if e.at <= entry.at]
            d = next_deadline(policy, starts_at, ends_at, held, staff)
            assert d is not None and d.clause == entry.clause
            if entry.kind == "overdue":
                assert d.alert_at == entry.at or (d.alert_at < entry.at and held and held[-1].at == entry.at)
            else:
                assert (d.kind, d.due_at) == (entry.kind, entry.at)
    # And every deadline whose alert time passes before the next event raises an alert then.
    overdue = {(e.at, e.clause) for e in got if e.kind == "overdue"}
    for k in range(len(events) + 1):
        d = next_deadline(policy, starts_at, ends_at, events[:k], staff)
        start = events[k - 1].at if k else None
        end = events[k].at if k < len(events) else None
        if d and (start is None or d.alert_at >= start) and (end is None or d.alert_at < end) and d.alert_at <= until:
            assert (d.alert_at, d.clause) in overdue


@AGREE
@given(visits())
def test_a_visit_is_watched_until_everyone_has_checked_out(visit):
    policy, events, until, staff = visit
    for k in range(len(events) + 1):
        d = next_deadline(policy, t(START), t(END), events[:k], staff)
        assert (d is None) == checked_out(policy, events[:k], staff)
        if d:
            assert d.alert_at >= d.due_at and (d.reminder_at is None or d.reminder_at < d.due_at)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(visits(), st.integers(0, 120))
def test_a_later_until_only_adds_to_the_timeline(visit, more):
    policy, events, until, staff = visit
    short = timeline(policy, t(START), t(END), events, until, staff)
    longer = timeline(policy, t(START), t(END), events, until + datetime.timedelta(minutes=more), staff)
    assert short == [e for e in longer if e.at <= until]


def test_checked_out_works_with_aware_times_as_the_watchdog_stores_them():
    utc = datetime.timezone.utc
    events = [Event(at=t("10:00").replace(tzinfo=utc), type="arrived"),
              Event(at=t("10:05").replace(tzinfo=utc), type="check_in")]
    assert not checked_out(POLICIES["st-hughs"], events)
    assert checked_out(POLICIES["willows"], events + [Event(at=t("10:40").replace(tzinfo=utc), type="left_home")])
    d = next_deadline(POLICIES["coteford"], t("10:00").replace(tzinfo=utc), t("10:45").replace(tzinfo=utc), events)
    assert d.due_at == t("10:25").replace(tzinfo=utc)
