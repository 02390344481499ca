"""The Claude agent through the real anthropic SDK against the local Messages API: streaming,
tool-use round trips on the real ToolBox and Temporal, the prompt and its caching, history
after a barge-in, and every failure mode of the per-turn failover policy."""

from __future__ import annotations

import json
import logging
import time

import pytest
from sqlmodel import col, select
from temporalio.client import Client

from core.db import Database
from core.demo.seed import SeedReport
from core.models import Appointment, AppointmentStatus
from realtime.agent.claude import ClaudeAgent
from realtime.agent.claude.history import CALL_CONNECTED, INTERRUPTED
from realtime.agent.failover import APOLOGY, FailoverAgent
from realtime.agent.loop import run_agent_turn
from realtime.agent.rule import RuleAgent
from realtime.engines import ClinicEngines
from tests.cloud.claude_support import claude_call, claude_settings, use_engines
from tests.fakes.anthropic_api import (
    API_KEY,
    FakeAnthropic,
    Latency,
    Text,
    ToolUse,
    booking_brain,
    last_caller_text,
)


def say_only(text: str):
    return lambda _body: [Text(text)]


async def test_books_a_cleaning_through_tool_round_trips(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    api = FakeAnthropic(booking_brain)
    with api.running() as url:
        clinic = await use_engines(db, agent="claude")
        async with claude_call(db, temporal_client, clinic, claude_settings(url)) as (call, notes):
            offer = await call.say("hi i would like to book a teeth cleaning")
            [found] = [r for m in call.conversation.messages if m.role == "tool"
                       for r in m.tool_results if r.name == "find_slots"]  # fmt: skip
            first = found.content["options"][0]
            assert f"I have {first['spoken']} with {first['provider']}" in offer
            done = await call.say("yes please")
            for workflow_id in call.tools.record.workflow_ids:
                await temporal_client.get_workflow_handle(workflow_id).result()
    assert "You're all set for" in done and first["spoken"] in done
    assert call.tools.record.tools_used == ["lookup_patient", "find_slots", "book_appointment"]
    assert notes == []
    async with db.read() as session:
        booked = (
            await session.exec(select(Appointment).where(col(Appointment.id).is_not(None)))
        ).all()
    mine = [a for a in booked if a.patient_id == call.tools.record.patient_id
            and a.status == AppointmentStatus.BOOKED and a.starts_at.isoformat().startswith(
                first["start"][:10])]  # fmt: skip
    assert mine, "the appointment row exists"
    # Each tool result went back as a tool_result answering the tool_use that asked for it.
    requests = api.message_requests
    assert len(requests) == 4  # offer: tools + results; booking: tool + result
    second = requests[1]["messages"]
    uses = [b for b in second[-2]["content"] if b["type"] == "tool_use"]
    results = [b for b in second[-1]["content"] if b["type"] == "tool_result"]
    assert [u["name"] for u in uses] == ["lookup_patient", "find_slots"]
    assert [r["tool_use_id"] for r in results] == [u["id"] for u in uses]
    assert json.loads(results[1]["content"])["options"][0] == first
    booking_call = [b for b in requests[2]["messages"][-1]["content"]]
    assert booking_call and requests[2]["messages"][-1]["role"] == "user"


async def test_prompt_is_the_clinics_configuration_cached_without_availability(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    api = FakeAnthropic(booking_brain)
    with api.running() as url:
        clinic = await use_engines(db, agent="claude", claude_model="claude-sonnet-4-6",
                                   claude_max_tokens=222)  # fmt: skip
        async with claude_call(db, temporal_client, clinic, claude_settings(url)) as (call, _):
            call.conversation.add_agent("Thanks for calling, how can I help?")  # the greeting
            await call.say("hi i would like to book a teeth cleaning")
    first, after_lookup = api.message_requests[0], api.message_requests[1]
    headers = api.received[0].headers
    assert API_KEY in (headers.get("x-api-key"), headers.get("authorization", "")[7:])
    assert headers["anthropic-version"]
    assert first["model"] == "claude-sonnet-4-6" and first["max_tokens"] == 222
    assert first["stream"] is True
    static, context = first["system"]
    assert static["cache_control"] == {"type": "ephemeral"} and "cache_control" not in context
    assert first["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert {t["name"] for t in first["tools"]} >= {"find_slots", "book_appointment", "end_call"}
    prompt = static["text"]
    for expected in (
        "You are Ava, the receptionist of Bright Smile Dental",
        "Dr. Maya Patel", "Dr. Owen Brooks", "Jenna Lee",  # providers
        "code cleaning", "60 minutes",  # services
        "Delta Dental", "Free parking is available",  # insurance, FAQ
        "Wednesday: 08:00 to 19:00", "Saturday: closed",  # hours
        "call 911",  # emergency rules
        "read the details back", "Never discuss prices", "transfer_to_human",
        "No filler", "Be brief",
    ):  # fmt: skip
        assert expected in prompt, expected
    # The static block is identical on every call (cacheable); the date is in the other one.
    assert "It is now" in context["text"] and "It is now" not in prompt
    assert static == after_lookup["system"][0]
    # Availability and the patient reach the model only through tool results.
    offered = json.loads(after_lookup["messages"][-1]["content"][1]["content"])["options"]
    assert offered and all(o["spoken"] not in json.dumps(first["system"]) for o in offered)
    patient = json.loads(after_lookup["messages"][-1]["content"][0]["content"])
    assert patient["first_name"] == "Alex"
    assert "Alex" not in json.dumps(after_lookup["system"])
    # The history is cached too: the newest block carries the breakpoint.
    assert after_lookup["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert first["messages"][0]["content"][0]["text"] == CALL_CONNECTED
    assert first["messages"][1]["role"] == "assistant"  # the greeting


async def test_text_streams_out_as_it_arrives(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    sentence = "We are open from eight in the morning until five in the afternoon on weekdays."
    api = FakeAnthropic(say_only(sentence), latency=Latency(token_s=0.05))
    arrivals: list[tuple[float, str]] = []

    async def heard(delta: str) -> None:
        arrivals.append((time.monotonic(), delta))

    with api.running() as url:
        clinic = await use_engines(db, agent="claude")
        async with claude_call(db, temporal_client, clinic, claude_settings(url)) as (call, _):
            call.conversation.add_caller("when are you open")
            await run_agent_turn(call.agent, call.conversation, call.tools, heard)
    assert "".join(d for _, d in arrivals) == sentence
    tokens = len(sentence.split())
    assert len(arrivals) == tokens
    # The server waits 50 ms between tokens: the first was spoken long before the last existed.
    assert arrivals[-1][0] - arrivals[0][0] >= (tokens - 1) * 0.05 * 0.9


async def test_history_is_what_the_caller_heard_after_a_barge_in(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    long = "We offer cleanings, exams, fillings, crowns and whitening, and we see new patients."
    replies = iter([long, "Sure, what day works for you?"])
    api = FakeAnthropic(lambda _body: [Text(next(replies))])
    with api.running() as url:
        clinic = await use_engines(db, agent="claude")
        async with claude_call(db, temporal_client, clinic, claude_settings(url)) as (call, _):
            await call.say("what do you offer")
            call.cut_last_reply(words_heard=4)
            await call.say("can i book a cleaning")
    messages = api.message_requests[1]["messages"]
    assistant = messages[-2]
    assert assistant["role"] == "assistant"
    assert assistant["content"][0]["text"] == "We offer cleanings, exams,"
    assert messages[-1]["content"][0]["text"] == f"{INTERRUPTED} can i book a cleaning"
    assert long not in json.dumps(messages)


async def test_rate_limit_is_retried_within_the_turn(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    api = FakeAnthropic(say_only("We are open until five today."))
    api.rate_limit_next(retry_after_s=0.1)
    with api.running() as url:
        clinic = await use_engines(db, agent="claude")
        async with claude_call(db, temporal_client, clinic, claude_settings(url)) as (call, notes):
            reply = await call.say("when do you close")
    assert reply == "We are open until five today."
    assert [r.path for r in api.received] == ["/v1/messages", "/v1/messages"]
    assert notes == []


def rule_reply_expected(reply: str) -> None:
    # The RuleAgent's answer to a booking request: it asks who is calling or what visit.
    assert reply and "We are open until five" not in reply


@pytest.mark.parametrize(
    ("fail", "note"),
    [
        (lambda api: [api.overload_next(), api.overload_next()], "agent:overloaded"),
        (lambda api: [api.server_error_next(), api.server_error_next()], "agent:api"),
        (lambda api: api.rate_limit_next(retry_after_s=30), "agent:rate_limit"),
        (lambda api: [api.stall_next(5), api.stall_next(5)], "agent:timeout"),
        (lambda api: api.failures_mid_stream.append("overloaded_error"), "agent:overloaded"),
    ],
    ids=["529-twice", "500-twice", "429-long-retry-after", "timeout", "error-mid-stream"],
)
async def test_failed_claude_hands_the_call_to_the_rule_agent(
    db: Database, demo: SeedReport, temporal_client: Client, fail, note: str
) -> None:
    api = FakeAnthropic(say_only("We are open until five today."))
    fail(api)
    settings = claude_settings(None)
    with api.running() as url:
        settings = claude_settings(url, claude_first_token_timeout_s=0.6, claude_turn_budget_s=1.3)
        clinic = await use_engines(db, agent="claude", on_llm_failure="rule_agent")
        async with claude_call(db, temporal_client, clinic, settings) as (call, notes):
            started = time.monotonic()
            reply = await call.say("i would like to book a cleaning")
            waited = time.monotonic() - started
            later = await call.say("it is for a cleaning")
    assert notes == [note]
    rule_reply_expected(reply)
    assert later  # the RuleAgent keeps the call
    assert waited < 2.5  # never more than the turn budget (plus slack) before an answer
    requests_after_failover = len(api.message_requests)
    assert requests_after_failover <= 2  # one retry at most, then Claude is out of this call


async def test_failed_claude_apologises_and_transfers_when_the_clinic_says_so(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    api = FakeAnthropic(say_only("unused"))
    api.overload_next()
    api.overload_next()
    with api.running() as url:
        clinic = await use_engines(db, agent="claude", on_llm_failure="transfer")
        async with claude_call(db, temporal_client, clinic, claude_settings(url)) as (call, notes):
            reply = await call.say("i need to move my appointment")
    assert reply == APOLOGY
    assert call.control.transfers == ["assistant down"]
    assert call.tools.record.outcome == "transferred"
    assert notes == ["agent:overloaded"]


async def test_a_wrong_key_is_not_retried(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    api = FakeAnthropic(say_only("unused"), api_key="sk-ant-other")
    with api.running() as url:
        clinic = await use_engines(db, agent="claude")
        async with claude_call(db, temporal_client, clinic, claude_settings(url)) as (call, notes):
            reply = await call.say("hello")
    assert notes == ["agent:authentication"] and reply
    assert len(api.received) == 1


async def test_engines_follow_each_clinics_configuration(
    db: Database, demo: SeedReport, caplog: pytest.LogCaptureFixture
) -> None:
    from realtime.agent.profile import load_clinic_profile

    profile = await load_clinic_profile(db, demo.clinic_id)
    rule = ClinicEngines(claude_settings("http://127.0.0.1:9")).for_clinic(
        await use_engines(db, agent="rule")
    )
    assert isinstance(rule.agent(profile), RuleAgent)
    claude_clinic = await use_engines(db, agent="claude", on_llm_failure="transfer")
    chosen = ClinicEngines(claude_settings("http://127.0.0.1:9")).for_clinic(claude_clinic)
    agent = chosen.agent(profile)
    assert isinstance(agent, FailoverAgent) and isinstance(
        chosen.agent_factory(profile), ClaudeAgent
    )
    # No key: the embedded RuleAgent, and one loud log line however many calls come.
    keyless = ClinicEngines(claude_settings(None))
    with caplog.at_level(logging.ERROR):
        for _ in range(3):
            assert isinstance(keyless.for_clinic(claude_clinic).agent(profile), RuleAgent)
            keyless.for_clinic(await use_engines(db, agent="claude", claude_max_tokens=99))
    warnings = [r for r in caplog.records if "without credentials" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].__dict__["setting"] == "ANTHROPIC_API_KEY"
    # Speech engines likewise: cloud with keys (the offline ones as failover), offline without.
    from realtime.stt.deepgram_stt import DeepgramSTT
    from realtime.stt.pocketsphinx_stt import PocketsphinxSTT
    from realtime.tts.elevenlabs_tts import ElevenLabsTTS
    from realtime.tts.flite_tts import FliteTTS

    speech = await use_engines(
        db, stt="deepgram", tts="elevenlabs", pronunciations={"Nguyen": "Win"}
    )
    keyed = ClinicEngines(
        claude_settings(None, deepgram_api_key="dg", elevenlabs_api_key="xi")
    ).for_clinic(speech)
    assert isinstance(keyed.stt, DeepgramSTT) and isinstance(keyed.stt_fallback, PocketsphinxSTT)
    assert isinstance(keyed.tts, ElevenLabsTTS) and isinstance(keyed.tts_fallback, FliteTTS)
    assert keyed.tts.speakable("Dr. Nguyen").endswith("Win")
    plain = ClinicEngines(claude_settings(None)).for_clinic(speech)
    assert isinstance(plain.stt, PocketsphinxSTT) and isinstance(plain.tts, FliteTTS)


def test_the_fake_refuses_a_tool_result_without_its_tool_use() -> None:
    # Guards the guard: the history rules the agent keeps are ones the server enforces.
    from tests.fakes.anthropic_api import RequestInvalid, validate

    with pytest.raises(RequestInvalid):
        validate({"model": "m", "max_tokens": 1, "messages": [
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "x"}]}]})  # fmt: skip
    assert last_caller_text({"messages": [{"role": "user", "content": "hi"}]}) == "hi"
    assert ToolUse("end_call", {}).name == "end_call"


def test_history_stays_a_valid_request_whatever_the_call_did() -> None:
    """Greeting first, a tool cut short by a barge-in, an empty truncated reply, two caller
    messages in a row: the request still passes the API's checks."""
    from datetime import UTC, datetime

    from realtime.agent.claude.history import CANCELLED, to_messages
    from realtime.agent.protocol import (
        ClinicProfile,
        Conversation,
        ToolCall,
        ToolResult,
    )
    from tests.fakes.anthropic_api import validate

    profile = ClinicProfile(
        clinic_id="c", name="Clinic", agent_name="Ava", greeting="", time_zone="UTC",
        address="", business_hours={}, faq={}, accepted_insurance=(), providers=(),
        appointment_types=(), emergency_instructions="", transfer_number="",
    )  # fmt: skip
    conversation = Conversation(clinic=profile, now=datetime.now(UTC))
    conversation.add_agent("Hello, how can I help?")
    conversation.add_caller("book a cleaning")
    conversation.add_agent(
        "Let me look.", [ToolCall("t1", "find_slots", {"appointment_type": "x"})]
    )
    conversation.add_caller("actually wait")  # barge-in: find_slots never returned
    cut = conversation.add_agent("")
    cut.interrupted = True
    conversation.add_caller("is Tuesday possible")
    conversation.add_agent("", [ToolCall("t2", "find_slots", {"appointment_type": "x"})])
    conversation.add_tool_results([ToolResult("t2", "find_slots", {"options": []})])
    messages = to_messages(conversation)
    validate({"model": "m", "max_tokens": 1, "messages": messages})
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant", "user",
                                              "assistant", "user"]  # fmt: skip
    cancelled = messages[4]["content"]
    assert cancelled[0]["tool_use_id"] == "t1" and json.loads(cancelled[0]["content"]) == CANCELLED
    assert [b["text"] for b in cancelled[1:]] == [
        "actually wait",
        f"{INTERRUPTED} is Tuesday possible",
    ]
