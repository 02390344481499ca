"""The RuleAgent against scripted tool results: paths the real ToolBox rarely takes (cut-off
read-backs, refusals, empty searches, outbound recalls), without a database."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from core.demo.seed import DEMO_CONFIG
from realtime.agent.loop import run_agent_turn
from realtime.agent.protocol import (
    AppointmentTypeInfo,
    ClinicProfile,
    Conversation,
    ProviderInfo,
    TextDelta,
    ToolCall,
    ToolResult,
)
from realtime.agent.rule import RuleAgent
from realtime.agent.rule import dialogue as dialogue_module

TZ = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 21, 10, 30, tzinfo=TZ)  # a Saturday


def demo_profile() -> ClinicProfile:
    raw = json.loads(DEMO_CONFIG.read_text())
    names = {p["key"]: p["name"] for p in raw["providers"]}
    return ClinicProfile(
        clinic_id="clinic",
        name=raw["name"],
        agent_name=raw["agent_name"],
        greeting=raw["greeting"],
        time_zone=raw["time_zone"],
        address=raw["address"],
        business_hours=raw["business_hours"],
        faq=raw["faq"],
        accepted_insurance=tuple(raw["accepted_insurance"]),
        providers=tuple(ProviderInfo(key, name) for key, name in sorted(names.items())),
        appointment_types=tuple(
            AppointmentTypeInfo(
                t["code"],
                t["name"],
                t["duration_minutes"],
                t.get("new_patients_only", False),
                tuple(t["synonyms"]),
                tuple(t["providers"]),
            )
            for t in raw["appointment_types"]
        ),
        emergency_instructions=raw["emergency_instructions"],
        transfer_number=raw["transfer_number"],
    )


def option(option_id: str, day: int, hour: int, minute: int, provider: str) -> dict[str, Any]:
    start = datetime(2026, 11, day, hour, minute, tzinfo=TZ)
    clock = f"{start:%I:%M %p}".lstrip("0").replace(":00 ", " ")
    return {
        "option_id": option_id,
        "provider": provider,
        "start": start.isoformat(),
        "spoken": f"{start:%A, %B} {day}th at {clock}",
    }


SLOTS = [
    option("S1", 24, 12, 30, "Jenna Lee"),
    option("S2", 24, 12, 45, "Jenna Lee"),
    option("S3", 24, 13, 0, "Jenna Lee"),
]
ALEX = {"found": True, "patient_id": "p-alex", "first_name": "Alex", "upcoming": []}

Handler = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class ScriptedTools:
    """Stands in for the ToolBox: canned answers per tool, and a log of the calls."""

    answers: dict[str, Handler | list[dict[str, Any]]]
    calls: list[ToolCall] = field(default_factory=list)

    async def run(self, call: ToolCall) -> ToolResult:
        self.calls.append(call)
        answer = self.answers.get(call.name, {"status": "ok"})
        if isinstance(answer, list):
            content = answer.pop(0)
        elif callable(answer):
            content = answer(call.arguments)
        else:
            content = answer
        return ToolResult(call.id, call.name, content, is_error="error" in content)


@dataclass
class ScriptedCall:
    tools: ScriptedTools
    phone: str | None = "+12075550111"
    direction: str = "inbound"
    purpose: str | None = None
    agent: RuleAgent = field(default_factory=RuleAgent)
    conversation: Conversation = field(init=False)

    def __post_init__(self) -> None:
        self.conversation = Conversation(
            clinic=demo_profile(),
            now=NOW,
            caller_phone=self.phone,
            direction=self.direction,  # type: ignore[arg-type]
            purpose=self.purpose,
        )

    async def say(self, text: str, confidence: float = 1.0) -> str:
        self.conversation.add_caller(text, confidence)

        async def ignore(_: str) -> None:
            return None

        turn = await run_agent_turn(self.agent, self.conversation, self.tools, ignore)  # type: ignore[arg-type]
        return turn.text

    def called(self, name: str) -> list[ToolCall]:
        return [c for c in self.tools.calls if c.name == name]


def alex_call(**answers: Handler | list[dict[str, Any]]) -> ScriptedCall:
    defaults: dict[str, Handler | list[dict[str, Any]]] = {
        "lookup_patient": lambda _: dict(ALEX),
        "find_slots": lambda _: {"options": [dict(o) for o in SLOTS]},
    }
    return ScriptedCall(ScriptedTools({**defaults, **answers}))


async def to_read_back(call: ScriptedCall) -> str:
    await call.say("i need a cleaning next tuesday afternoon")
    await call.say("yes")
    return await call.say("the first one")


async def test_a_yes_to_a_cut_off_read_back_reads_it_again() -> None:
    call = alex_call(book_appointment=lambda _: {"status": "booked", "spoken": SLOTS[0]["spoken"]})
    read_back = await to_read_back(call)
    assert read_back.startswith("Just to confirm")
    call.conversation.messages[-1].interrupted = True  # the caller talked over it
    reply = await call.say("yes")
    assert not call.called("book_appointment")
    assert "let me repeat" in reply and SLOTS[0]["spoken"] in reply
    reply = await call.say("yes")
    assert "all set" in reply
    [booking] = call.called("book_appointment")
    assert booking.arguments == {"option_id": "S1", "patient_id": "p-alex"}


async def test_a_refused_commit_is_read_back_again() -> None:
    refusal = {"error": "confirmation_interrupted: read the details back again and ask for a yes"}
    call = alex_call(book_appointment=[refusal, {"status": "booked", "spoken": SLOTS[0]["spoken"]}])
    await to_read_back(call)
    reply = await call.say("yes")
    assert "read that back once more" in reply and "Just to confirm" in reply
    reply = await call.say("yes")
    assert "all set" in reply and len(call.called("book_appointment")) == 2


async def test_a_pending_booking_promises_a_text() -> None:
    call = alex_call(book_appointment=lambda _: {"status": "pending"})
    await to_read_back(call)
    reply = await call.say("yes")
    assert "text as soon as it's confirmed" in reply


async def test_no_openings_offers_other_days_then_broadens() -> None:
    searches: list[dict[str, Any]] = []

    def find_slots(arguments: dict[str, Any]) -> dict[str, Any]:
        searches.append(arguments)
        return {"options": [] if len(searches) == 1 else [dict(SLOTS[0])]}

    call = alex_call(find_slots=find_slots)
    await call.say("can i get a cleaning tomorrow morning")
    reply = await call.say("yes")
    assert "don't have any morning openings on Sunday, November 22nd" in reply
    assert "other days" in reply
    reply = await call.say("sure")
    assert searches[1]["date_from"] == "2026-11-23" and "date_to" not in searches[1]
    assert searches[1]["day_part"] == "morning"
    assert SLOTS[0]["spoken"] in reply and "Would that work" in reply


async def test_an_exact_time_that_is_offered_is_picked_out() -> None:
    call = alex_call()
    await call.say("a cleaning next tuesday at 12:45")
    reply = await call.say("yes")
    assert "that time is open" in reply and SLOTS[1]["spoken"] in reply
    assert SLOTS[0]["spoken"] not in reply
    reply = await call.say("yes")
    assert reply.startswith("Just to confirm") and SLOTS[1]["spoken"] in reply


async def test_a_time_not_offered_is_never_echoed() -> None:
    call = alex_call()
    await call.say("a cleaning next tuesday at quarter past four")
    reply = await call.say("yes")
    assert "4:15" not in reply and "don't see that exact time" in reply


async def test_an_unknown_provider_is_explained() -> None:
    call = alex_call()
    reply = await call.say("can i see doctor smith for a checkup")
    assert "We don't have a Dr. Smith" in reply and "Dr. Maya Patel" in reply


async def test_new_patient_first_visit_gets_the_new_patient_exam() -> None:
    call = ScriptedCall(
        ScriptedTools({"find_slots": lambda _: {"options": [dict(o) for o in SLOTS]}}), phone=None
    )
    await call.say("i've never been there before and i'd like a checkup")
    await call.say("sam lee")
    reply = await call.say("one two ninety")
    assert "What day" in reply
    await call.say("whenever")
    [search] = call.called("find_slots")
    assert search.arguments == {"appointment_type": "new-patient-exam", "patient_is_new": True}


async def test_outbound_recall_books_on_yes() -> None:
    call = ScriptedCall(
        ScriptedTools({"lookup_patient": lambda _: dict(ALEX)}),
        direction="outbound",
        purpose="recall:cleaning",
    )
    reply = await call.say("yes")
    assert call.called("lookup_patient") and "Alex" in reply
    reply = await call.say("yes")
    assert "What day" in reply


async def test_asking_when_my_appointment_is() -> None:
    upcoming = {
        "appointment_ref": "A1",
        "provider": "Jenna Lee",
        "type": "cleaning",
        "spoken": "Tuesday, November 24th at 8 AM",
    }
    call = alex_call(lookup_patient=lambda _: {**ALEX, "upcoming": [upcoming]})
    await call.say("when is my appointment")
    reply = await call.say("yes")
    assert "You have a cleaning with Jenna Lee on Tuesday, November 24th at 8 AM" in reply


async def test_responses_stream_sentence_by_sentence_then_tools() -> None:
    agent = RuleAgent()
    conversation = Conversation(clinic=demo_profile(), now=NOW)
    conversation.add_caller("my tooth got knocked out playing hockey")
    events = [event async for event in agent.respond(conversation)]
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(texts) >= 2 and texts[0].endswith(" ")
    assert isinstance(events[-1], ToolCall) and events[-1].name == "transfer_to_human"
    assert events[-1].arguments == {"reason": "emergency: knocked-out tooth"}


async def test_nothing_to_say_before_the_caller_speaks() -> None:
    conversation = Conversation(clinic=demo_profile(), now=NOW)
    assert [event async for event in RuleAgent().respond(conversation)] == []


async def test_a_failure_inside_the_agent_hands_the_call_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr("realtime.agent.rule.agent.on_caller", broken)
    conversation = Conversation(clinic=demo_profile(), now=NOW)
    conversation.add_caller("hello")
    events = [event async for event in RuleAgent().respond(conversation)]
    assert isinstance(events[-1], ToolCall) and events[-1].name == "transfer_to_human"
    assert dialogue_module.REPEAT  # the module stays importable for the session's use


async def test_anything_later_looks_at_the_next_part_of_the_day() -> None:
    searches: list[dict[str, Any]] = []

    def find_slots(arguments: dict[str, Any]) -> dict[str, Any]:
        searches.append(arguments)
        return {"options": [dict(o) for o in SLOTS]}

    call = alex_call(find_slots=find_slots)
    await call.say("a cleaning next tuesday morning")
    await call.say("yes")
    await call.say("okay anything later")
    assert searches[-1]["day_part"] == "afternoon"
    assert searches[-1]["date_from"] == "2026-11-24"


async def test_a_toothache_is_offered_the_soonest_urgent_visit() -> None:
    call = alex_call()
    await call.say("my crown fell off and it really hurts")
    reply = await call.say("yes")
    [search] = call.called("find_slots")
    assert search.arguments == {"appointment_type": "emergency", "patient_is_new": False}
    assert "Which would you like" in reply


async def test_the_day_of_the_visit_being_moved_is_not_the_new_day() -> None:
    visits = [
        {"appointment_ref": "A1", "provider": "Jenna Lee", "type": "cleaning",
         "spoken": "Tuesday, November 24th at 8 AM"},
        {"appointment_ref": "A2", "provider": "Dr. Maya Patel", "type": "checkup",
         "spoken": "Friday, November 27th at 9 AM"},
    ]  # fmt: skip
    call = alex_call(lookup_patient=lambda _: {**ALEX, "upcoming": visits})
    await call.say("i can't make my appointment on tuesday")
    reply = await call.say("yes")
    assert "I see your cleaning" in reply and "What day would you like" in reply
    assert not call.called("find_slots")
    await call.say("can we move it to wednesday afternoon")
    [search] = call.called("find_slots")
    assert search.arguments["date_from"] == "2026-11-25"
    assert search.arguments["day_part"] == "afternoon"


async def test_a_spelled_last_name_corrects_the_one_heard() -> None:
    call = ScriptedCall(ScriptedTools({"lookup_patient": lambda _: dict(ALEX)}), phone=None)
    await call.say("i'd like to cancel my appointment")
    await call.say("alex revera")
    await call.say("it's spelled r i v e r a")
    await call.say("march fourteenth nineteen eighty five")
    [lookup] = call.called("lookup_patient")
    assert lookup.arguments == {
        "first_name": "Alex",
        "last_name": "Rivera",
        "date_of_birth": "1985-03-14",
    }


async def test_a_phone_number_is_not_a_date() -> None:
    call = alex_call()
    reply = await call.say("my number is two oh seven five five five oh one one one")
    assert not call.called("find_slots") and not call.called("lookup_patient")
    assert reply.startswith("Sorry")


async def test_asking_to_repeat_repeats_without_penalty() -> None:
    call = alex_call()
    await call.say("a cleaning next tuesday")
    offers = await call.say("yes")
    for _ in range(4):
        again = await call.say("sorry can you say that again")
        assert again.startswith("On Tuesday") and again in offers
    assert not call.called("transfer_to_human")


async def test_running_late_goes_to_the_front_desk() -> None:
    call = alex_call()
    await call.say("i'm running about ten minutes late")
    [transfer] = call.called("transfer_to_human")
    assert transfer.arguments == {"reason": "caller running late"}
