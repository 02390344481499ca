"""The outreach rules as pure functions: quiet hours, caps, templates, reply keywords."""

from datetime import UTC, datetime, time, timedelta

import pytest

from core.campaigns.replies import classify
from core.campaigns.rules import Caps, SendWindow, check_caps, decide
from core.campaigns.templates import (
    OPT_OUT_NOTICE,
    TemplateContext,
    TemplateError,
    check_template,
    render,
)

NY = "America/New_York"


def at(hour: int, minute: int = 0, day: int = 2) -> datetime:
    """A New York wall-clock time on 2026-03-<day> (EST, UTC-5), as UTC."""
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC) + timedelta(hours=5)


def test_send_window_open_and_closed() -> None:
    window = SendWindow(NY)
    assert window.next_open(at(9)) == at(9)
    assert window.next_open(at(7, 59)) == at(8)
    # After 20:00 it waits for 08:00 the next day.
    assert window.next_open(at(20)) == at(8, day=3)
    assert window.next_open(at(19, 59)) == at(19, 59)


def test_send_window_across_daylight_saving() -> None:
    # 2026-03-08: clocks go forward in New York; 08:00 EDT is 12:00 UTC.
    evening = datetime(2026, 3, 8, 2, 0, tzinfo=UTC)  # 21:00 EST on the 7th
    assert SendWindow(NY).next_open(evening) == datetime(2026, 3, 8, 12, 0, tzinfo=UTC)


def test_daily_cap_defers_and_weekly_cap_skips() -> None:
    now = at(12)
    assert check_caps([], now, Caps()).action == "send"
    deferred = check_caps([now - timedelta(hours=3)], now, Caps())
    assert (deferred.action, deferred.reason) == ("defer", "daily_cap")
    assert deferred.until == now + timedelta(hours=21)
    week = [now - timedelta(days=d) for d in (1, 2, 3)]
    assert check_caps(week, now, Caps()).action == "skip"
    assert check_caps(week, now, Caps(per_week=4)).action == "send"
    assert check_caps([now - timedelta(days=8)] * 5, now, Caps()).action == "send"


def test_quiet_hours_defer_and_deadline_skips() -> None:
    night = at(22)
    verdict = decide(now=night, window=SendWindow(NY), caps=Caps(), sent=[], opted_out=False,
                     has_phone=True)  # fmt: skip
    assert (verdict.action, verdict.reason, verdict.until) == ("defer", "quiet_hours", at(8, day=3))
    too_late = decide(now=night, window=SendWindow(NY), caps=Caps(), sent=[], opted_out=False,
                      has_phone=True, deadline=at(7, day=3))  # fmt: skip
    assert (too_late.action, too_late.reason) == ("skip", "quiet_hours_until_deadline")


def test_opt_out_and_missing_phone_skip_first() -> None:
    kwargs = {"now": at(9), "window": SendWindow(NY), "caps": Caps(), "sent": []}
    assert decide(**kwargs, opted_out=True, has_phone=True).reason == "opted_out"  # type: ignore[arg-type]
    assert decide(**kwargs, opted_out=False, has_phone=False).reason == "no_phone"  # type: ignore[arg-type]


def test_daily_cap_deferral_also_respects_quiet_hours() -> None:
    now = at(19)
    verdict = decide(now=now, window=SendWindow(NY, time(8), time(20)), caps=Caps(),
                     sent=[now - timedelta(hours=2)], opted_out=False, has_phone=True)  # fmt: skip
    # The cap frees up at 17:00 tomorrow, inside the window.
    assert (verdict.action, verdict.until) == ("defer", at(17, day=3))


@pytest.mark.parametrize(
    ("body", "meaning"),
    [("STOP", "stop"), ("stop ", "stop"), ("Opt out", "stop"), ("UNSUBSCRIBE", "stop"),
     ("cancel", "stop"), ("Revoke", "stop"), ("quit", "stop"), ("End.", "stop"),
     ("C", "confirm"), ("yes", "confirm"), ("R", "reschedule"), ("start", "start"),
     ("please stop calling me at work", "other"), ("", "other")],
)  # fmt: skip
def test_reply_keywords(body: str, meaning: str) -> None:
    assert classify(body) == meaning


CTX = TemplateContext(clinic_name="Bright Smile", clinic_phone="+12075550100",
                      time_zone=NY, first_name="Alex")  # fmt: skip


def test_template_renders_with_opt_out_notice() -> None:
    body = render("{clinic_name}: hi {first_name}, time for a visit.", CTX)
    assert body == "Bright Smile: hi Alex, time for a visit." + OPT_OUT_NOTICE


@pytest.mark.parametrize(
    ("text", "message"),
    [("Hi {name}", "unknown placeholder {name}"), ("Hi {first_name", "expected '}'"),
     ("Hi {first_name!r}", "takes no format options"), ("   ", "is empty")],
)  # fmt: skip
def test_bad_templates_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        check_template(text)


def test_appointment_placeholders_need_an_appointment() -> None:
    with pytest.raises(TemplateError, match="needs an appointment"):
        check_template("See you {appointment_time}", appointments=False)
    with pytest.raises(TemplateError, match=r"no value for \{appointment_time\}"):
        render("See you {appointment_time}", CTX)
    with pytest.raises(TemplateError, match="at most 320"):
        render("x" * 330, CTX)
