"""The conversation evals with the RuleAgent, as text calls on the real tools, database and
Temporal: every scenario's outcome checks must hold (timings are the benchmarks' business)."""

from __future__ import annotations

import pytest
from temporalio.client import Client

from core.db import Database
from core.demo.seed import SeedReport
from evals.report import summarise
from evals.runner import ScenarioResult, run_text_scenario, running_workers
from evals.scenario import Scenario, load_scenarios
from realtime.engines import rule_agent

SCENARIOS = load_scenarios()


def test_there_are_enough_scenarios_across_the_required_categories() -> None:
    categories = {s.category for s in SCENARIOS}
    assert len(SCENARIOS) >= 40
    assert {
        "new patient", "returning patient", "time preferences", "names and dates of birth",
        "insurance", "emergency", "billing", "barge-in", "silence", "noise", "human",
        "reschedule", "cancel",
    } <= categories  # fmt: skip


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
async def test_scenario(
    scenario: Scenario, db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    async with running_workers(temporal_client, db) as prefix:
        result: ScenarioResult = await run_text_scenario(
            scenario, rule_agent, "rule", db, temporal_client, demo.clinic_id, prefix
        )
    report = "\n".join([*([result.error] if result.error else []), *result.verdict.failures])
    assert result.passed, f"{report}\n" + "\n".join(result.transcript)
    assert not result.verdict.invented
    summary = summarise([result])
    if scenario.expects_booking:
        assert summary.bookings_completed == 1 and result.turns_to_booking is not None
    if scenario.expects_transfer:
        assert summary.transfers_correct == 1
