"""Scenarios as full audio calls: the simulated phone network places each one through the
Twilio Media Streams protocol into the real API, with the offline speech engines on both sides
(flite speaks the caller's lines, pocketsphinx hears them, flite answers).

The same checks as text calls judge the call's own session (its conversation and tool record,
kept by ``SessionKeeper``) and the database. Low-confidence steps are spoken normally (the
recogniser's confidence is its own here); a barge-in starts the line ~0.35 s per word heard into
the reply; silence is real silence, so the session's idle re-prompts answer it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from core.settings import Settings
from evals.checks import Verdict, judge
from evals.runner import (
    ScenarioResult,
    existing_visit,
    outcome_in_database,
    running_workers,
    settle_workflows,
    transcript_lines,
    turns_until_booked,
)
from evals.scenario import Scenario
from evals.stack import EvalStack
from phonesim.local_api import serve_api
from phonesim.scripted_call import CallerLine, place_call
from phonesim.twilio_peer import TwilioPeer
from realtime.engines import SpeechEngines, offline_engines
from realtime.tts.flite_tts import FliteTTS
from stack.devserver import free_port

AUTH_TOKEN = "evals-auth-token-0123456789abcdef"
CLINIC_NUMBER = "+12075550100"
WITHHELD = "+12075550199"  # Twilio always sends a From; this one matches no patient
MS_PER_WORD = 350


class SessionKeeper(dict[str, Any]):
    """Stands in for ``VoiceSessions.active`` and keeps every session after it ends."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Any] = []

    def __setitem__(self, key: str, session: Any) -> None:
        self.seen.append(session)
        super().__setitem__(key, session)


def caller_lines(scenario: Scenario) -> list[CallerLine]:
    lines: list[CallerLine] = []
    pause = 0.0
    for step in scenario.steps:
        if step.say is None:
            pause += step.silence_s
            continue
        words = step.barge_in_after_words
        barge_in_ms = None if words is None else words * MS_PER_WORD
        lines.append(CallerLine(step.say, barge_in_ms, pause_s=pause))
        pause = 0.0
    return lines


async def run_audio_scenario(
    scenario: Scenario, agent: str, stack: EvalStack, engines: SpeechEngines
) -> ScenarioResult:
    started = time.monotonic()
    result = ScenarioResult(scenario, "audio", agent, Verdict())
    async with stack.fresh_database() as db, running_workers(stack.client, db) as prefix:
        visit_id = (
            await existing_visit(db, stack.clinic_id, scenario.upcoming)
            if scenario.upcoming
            else None
        )
        since = datetime.now(UTC)
        port = free_port()
        settings = Settings(
            database_url=db.url.render_as_string(hide_password=False),
            temporal_address=stack.server.address, task_queue_prefix=prefix,
            data_dir=stack.root, public_base_url=f"http://127.0.0.1:{port}",
            twilio_auth_token=AUTH_TOKEN,
        )  # fmt: skip
        async with serve_api(settings, port, engines) as api:
            keeper = SessionKeeper()
            api.app.state.services.voice.active = keeper
            peer = TwilioPeer(
                api.base_url, AUTH_TOKEN, to_number=CLINIC_NUMBER,
                from_number=scenario.caller_phone or WITHHELD,
            )  # fmt: skip
            try:
                await place_call(peer, caller_lines(scenario), FliteTTS(), voice="kal")
            except Exception as exc:
                result.error = f"call failed: {type(exc).__name__}: {exc}"
        if not keeper.seen:
            result.error = result.error or "no session was opened"
            return result
        session = keeper.seen[0]
        conversation, record = session.conversation, session.tools.record
        result.caller_turns = sum(1 for m in conversation.messages if m.role == "caller")
        result.turns_to_booking = turns_until_booked(conversation)
        problems = await settle_workflows(stack.client, record.workflow_ids)
        made, cancelled = await outcome_in_database(
            scenario, db, stack.clinic_id, record, since, visit_id
        )
        result.verdict = judge(scenario, conversation, record, made, cancelled)
        result.verdict.failures.extend(problems)
        result.transcript = transcript_lines(conversation)
    result.seconds = time.monotonic() - started
    return result


async def run_audio(
    stack: EvalStack, scenarios: Sequence[Scenario], agent: str
) -> list[ScenarioResult]:
    from evals.agents import agent_factory

    engines = offline_engines()
    engines.agent_factory = agent_factory(agent)
    results = []
    try:
        for scenario in scenarios:
            result = await run_audio_scenario(scenario, agent, stack, engines)
            print(f"  {'pass' if result.passed else 'FAIL'}  {scenario.name}", flush=True)
            results.append(result)
    finally:
        aclose = getattr(engines.stt, "aclose", None)
        if aclose is not None:
            await aclose()
    return results
