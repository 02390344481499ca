"""The RuleAgent in text-only calls: the real tool loop and ToolBox on a seeded database and the
Temporal dev server. Every call also checks (in ``text_call``) that no time was spoken that
``find_slots`` did not return, and that every commit followed a read-back."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import Client

from core.db import Database
from core.demo.seed import SeedReport
from core.models import AppointmentStatus
from core.scheduling import HoldRequest, SlotQuery, find_slots, hold_slot
from realtime.agent.rule.state import Offer
from tests.agent.calls import (
    active_appointments,
    appointment_status,
    finish_workflows,
    text_call,
    tool_results,
    transcript,
    upcoming_visit,
)
from tests.support.conversation import TextCall

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

TZ = ZoneInfo("America/New_York")
ALEX_PHONE = "+12075550111"
SAMIRA_PHONE = "+12075550113"


def offered(call: TextCall) -> list[Offer]:
    return [
        Offer.from_tool(option)
        for result in tool_results(call, "find_slots")
        for option in result.content.get("options", [])
    ]


def chosen(call: TextCall) -> Offer:
    agent = call.agent
    state = agent.state  # type: ignore[attr-defined]
    assert state.chosen is not None, transcript(call)
    return state.chosen


def local_today() -> date:
    return datetime.now(TZ).date()


async def bookable_weekdays(db: Database, clinic_id: str, code: str) -> list[str]:
    """Weekday names whose next occurrence (tomorrow on) has a free ``code`` slot."""
    names = []
    for offset in range(1, 8):
        day = local_today() + timedelta(days=offset)
        async with db.read() as session:
            slots = await find_slots(
                session, clinic_id, SlotQuery(code, first_day=day, last_day=day, limit=1)
            )
        if slots:
            names.append(f"{day:%A}")
    return names


async def identify_alex(call: TextCall, opening: str) -> str:
    reply = await call.say(opening)
    assert "Am I speaking with Alex?" in reply, transcript(call)
    return await call.say("yes that's me")


# --- booking ------------------------------------------------------------------------------------


async def test_new_patient_books_a_cleaning_next_tuesday_afternoon(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    async with text_call(db, demo, temporal_client, caller_phone="+12075550190") as call:
        reply = await call.say(
            "hi i'm a new patient and i'd like to book a cleaning next tuesday afternoon"
        )
        assert "name" in reply
        reply = await call.say("my name is dana whitfield")
        assert "Dana" in reply and "date of birth" in reply
        reply = await call.say("april twelfth nineteen ninety")
        [search] = tool_results(call, "find_slots")
        on_tuesday = bool(search.content["options"])  # unless next Tuesday is a holiday
        if not on_tuesday:
            assert "other days" in reply, transcript(call)
            reply = await call.say("yes please")
        assert "Jenna Lee" in reply and ("Tuesday" in reply or not on_tuesday)
        reply = await call.say("the second one")
        second = offered(call)[1]
        assert "Just to confirm" in reply and second.spoken in reply and "Jenna Lee" in reply
        reply = await call.say("yes please")
        assert "all set" in reply, transcript(call)
        [booking] = tool_results(call, "book_appointment")
        assert booking.content["status"] == "booked"
        calls = [c for m in call.agent_messages for c in m.tool_calls]
        [book] = [c for c in calls if c.name == "book_appointment"]
        assert book.arguments["new_patient"] == {
            "first_name": "Dana",
            "last_name": "Whitfield",
            "date_of_birth": "1990-04-12",
        }
        reply = await call.say("no that's all thank you")
        assert call.control.hangups, transcript(call)
    [(appointment, provider, code)] = await active_appointments(db, "Whitfield")
    assert (provider, code) == ("Jenna Lee", "cleaning")
    local = appointment.starts_at.astimezone(TZ)
    assert 12 <= local.hour < 17 and (local.strftime("%A") == "Tuesday" or not on_tuesday)
    assert appointment.starts_at == second.start


async def test_returning_patient_by_caller_phone_books_an_exam_with_dr_patel(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    async with text_call(db, demo, temporal_client, caller_phone=ALEX_PHONE) as call:
        reply = await identify_alex(call, "hi i'd like to book a checkup with doctor patel")
        assert "What day" in reply, transcript(call)
        reply = await call.say("whenever is soonest")
        [search] = tool_results(call, "find_slots")
        assert search.content["options"], transcript(call)
        assert all(o.provider == "Dr. Maya Patel" for o in offered(call))
        reply = await call.say("the first one")
        assert "Dr. Maya Patel" in reply and "checkup" in reply
        reply = await call.say("yeah that works")
        assert "all set" in reply, transcript(call)
    [lookup, *_] = tool_results(call, "lookup_patient")
    assert lookup.content["found"] is True
    rows = await active_appointments(db, "Rivera")
    assert [(p, c) for _, p, c in rows] == [("Dr. Maya Patel", "exam")]
    assert rows[0][0].starts_at == offered(call)[0].start


async def test_returning_patient_by_name_and_spoken_date_of_birth(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    async with text_call(db, demo, temporal_client) as call:
        reply = await call.say("hello i'd like to make an appointment for a cleaning")
        assert "been to see us before" in reply
        reply = await call.say("yes i have")
        assert "name" in reply
        reply = await call.say("it's peter brown")
        assert "date of birth" in reply
        reply = await call.say("march third nineteen eighty")
        assert "found your record" in reply, transcript(call)
        [lookup] = tool_results(call, "lookup_patient")
        assert lookup.content["found"] is True
        reply = await call.say("any time next week")
        assert offered(call), transcript(call)
        await call.say("the first one")
        reply = await call.say("correct")
        assert "all set" in reply, transcript(call)
    [(appointment, _, code)] = await active_appointments(db, "Brown")
    assert code == "cleaning" and appointment.starts_at == offered(call)[0].start


async def test_caller_changes_the_day_mid_way(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    days = await bookable_weekdays(db, demo.clinic_id, "cleaning")
    assert len(days) >= 2
    first, second = days[0], days[1]
    async with text_call(db, demo, temporal_client, caller_phone=ALEX_PHONE) as call:
        reply = await identify_alex(call, f"can i book a cleaning on {first.lower()}")
        assert first in reply, transcript(call)
        reply = await call.say(f"actually make it {second.lower()}")
        assert second in reply, transcript(call)
        latest = tool_results(call, "find_slots")[-1].content["options"]
        assert latest and all(second in o["spoken"] for o in latest)
        await call.say("the first one")
        reply = await call.say("yes")
        assert "all set" in reply, transcript(call)
    [(appointment, _, _)] = await active_appointments(db, "Rivera")
    assert appointment.starts_at.astimezone(TZ).strftime("%A") == second


async def test_caller_says_no_to_the_read_back_and_picks_another_option(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    async with text_call(db, demo, temporal_client, caller_phone=ALEX_PHONE) as call:
        await identify_alex(call, "i need a cleaning")
        await call.say("the soonest you have")
        options = offered(call)
        assert len(options) >= 2, transcript(call)
        reply = await call.say("the first one")
        assert options[0].spoken in reply
        reply = await call.say("no")
        assert "No problem" in reply and options[0].spoken not in reply
        assert not tool_results(call, "book_appointment")
        reply = await call.say("the first one")
        assert "Just to confirm" in reply and options[1].spoken in reply, transcript(call)
        reply = await call.say("yes please")
        assert "all set" in reply, transcript(call)
    [(appointment, _, _)] = await active_appointments(db, "Rivera")
    assert appointment.starts_at == options[1].start


async def test_a_time_taken_meanwhile_is_reoffered(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    async with text_call(db, demo, temporal_client, caller_phone=ALEX_PHONE) as call:
        await identify_alex(call, "i need a cleaning as soon as possible")
        await call.say("the first one")
        taken = chosen(call)
        slot = call.tools._options[taken.option_id]
        await hold_slot(
            db,
            HoldRequest(demo.clinic_id, slot.provider_id, "cleaning", slot.starts_at, "other"),
        )
        reply = await call.say("yes")
        assert "just taken" in reply, transcript(call)
        assert taken.spoken not in reply
        await call.say("the first one")
        reply = await call.say("yes")
        assert "all set" in reply, transcript(call)
    [(appointment, _, _)] = await active_appointments(db, "Rivera")
    assert appointment.starts_at != taken.start


async def test_low_confidence_asks_to_repeat_without_acting(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    async with text_call(db, demo, temporal_client, caller_phone=ALEX_PHONE) as call:
        reply = await call.say("cancel everything", confidence=0.3)
        assert reply == "Sorry, could you say that again?"
        await identify_alex(call, "i'd like a cleaning")
        await call.say("soonest please")
        await call.say("the first one")
        state_before = call.agent.state  # type: ignore[attr-defined]
        reply = await call.say("yes", confidence=0.2)
        # Asked again with the details, so the next "yes" answers the read-back itself.
        assert reply.startswith("Sorry, could you say that again? Just to confirm")
        assert call.agent.state == state_before  # type: ignore[attr-defined]
        assert not tool_results(call, "book_appointment")
        reply = await call.say("yes")
        assert "all set" in reply, transcript(call)


# --- moving and cancelling ----------------------------------------------------------------------


async def test_reschedule(db: Database, demo: SeedReport, temporal_client: Client) -> None:
    original = await upcoming_visit(db, demo.clinic_id, "Okafor", "cleaning", days_ahead=2)
    async with text_call(db, demo, temporal_client, caller_phone=SAMIRA_PHONE) as call:
        reply = await call.say("hi i need to reschedule my appointment")
        assert "Am I speaking with Samira?" in reply, transcript(call)
        reply = await call.say("yes it is")
        assert "cleaning" in reply and "What day" in reply, transcript(call)
        reply = await call.say("the week after next please")
        options = offered(call)
        assert options, transcript(call)
        reply = await call.say("the second one")
        assert "move your cleaning" in reply and options[1].spoken in reply
        reply = await call.say("sure")
        assert "Done" in reply, transcript(call)
        await finish_workflows(call, temporal_client)
    rows = await active_appointments(db, "Okafor")
    assert [a.starts_at for a, _, _ in rows] == [options[1].start]
    assert rows[0][0].rescheduled_from_id == original.id


async def test_cancel_by_name_and_date_of_birth(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    visit = await upcoming_visit(db, demo.clinic_id, "Kim", "exam", days_ahead=4)
    async with text_call(db, demo, temporal_client) as call:
        reply = await call.say("i need to cancel my appointment")
        assert "name" in reply, transcript(call)
        reply = await call.say("jordan kim")
        assert "date of birth" in reply
        reply = await call.say("oh seven oh two ninety two")
        assert "cancel your checkup" in reply, transcript(call)
        reply = await call.say("yes please")
        assert "is cancelled" in reply, transcript(call)
        await call.say("no thanks bye")
        assert call.control.hangups
        await finish_workflows(call, temporal_client)
    assert await appointment_status(db, visit.id) == AppointmentStatus.CANCELLED


# --- questions and hand-offs --------------------------------------------------------------------


async def test_hours_location_and_insurance_come_from_the_clinic_config(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    async with text_call(db, demo, temporal_client) as call:
        clinic = call.conversation.clinic
        reply = await call.say("what are your hours")
        assert "Monday" in reply and "8 AM to 5 PM" in reply and "7 PM" in reply
        assert "closed Saturday and Sunday" in reply
        reply = await call.say("are you open on saturday")
        assert "closed on Saturdays" in reply
        reply = await call.say("where are you located")
        assert "120 Harbor Street" in reply
        reply = await call.say("what insurance do you accept")
        assert all(plan in reply for plan in clinic.accepted_insurance)
        reply = await call.say("do you take cigna")
        assert "Yes, we accept Cigna" in reply
        reply = await call.say("what about humana")
        assert "Humana isn't on our list" in reply
        reply = await call.say("is there parking")
        assert clinic.faq["parking"] in reply
        assert not call.control.transfers


@pytest.mark.parametrize(
    ("words", "reason"),
    [
        ("my face is really swollen and i have a fever", "swelling with fever"),
        ("my gum has been bleeding for an hour and it won't stop", "uncontrolled bleeding"),
        ("my son fell off his bike and knocked out his front tooth", "knocked-out tooth"),
        ("i broke my tooth in a car accident", "broken tooth from an accident"),
    ],
)
async def test_emergency_speaks_instructions_and_transfers(
    db: Database, demo: SeedReport, temporal_client: Client, words: str, reason: str
) -> None:
    async with text_call(db, demo, temporal_client) as call:
        reply = await call.say(words)
        assert call.conversation.clinic.emergency_instructions in reply
        assert call.control.transfers == [f"emergency: {reason}"]
        assert call.tools.record.outcome == "emergency"


@pytest.mark.parametrize(
    ("words", "reason"),
    [
        ("i have a question about my bill", "billing question"),
        ("can i talk to a person", "caller asked for a person"),
        ("representative", "caller asked for a person"),
        ("put me through to the front desk", "caller asked for a person"),
    ],
)
async def test_billing_and_people_are_transferred(
    db: Database, demo: SeedReport, temporal_client: Client, words: str, reason: str
) -> None:
    async with text_call(db, demo, temporal_client, caller_phone=ALEX_PHONE) as call:
        await call.say(words)
        assert call.control.transfers == [reason], transcript(call)
        assert not tool_results(call, "lookup_patient")


async def test_goodbye_ends_the_call(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    async with text_call(db, demo, temporal_client) as call:
        reply = await call.say("what time do you close on friday")
        assert "2 PM" in reply
        reply = await call.say("ok great thanks bye")
        assert "Have a great day" in reply
        assert call.control.hangups == ["caller done"]
        assert [r.name for r in tool_results(call)] == ["end_call"]


async def test_caller_asks_when_their_appointment_is(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    await upcoming_visit(db, demo.clinic_id, "Okafor", "filling", days_ahead=3)
    async with text_call(db, demo, temporal_client, caller_phone=SAMIRA_PHONE) as call:
        await call.say("hi when is my appointment")
        reply = await call.say("yes")
        [lookup] = tool_results(call, "lookup_patient")
        [visit] = lookup.content["upcoming"]
        assert f"You have a filling with {visit['provider']} on {visit['spoken']}" in reply
