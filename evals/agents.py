"""Which agents the evals can run: the RuleAgent always, Claude when a key is configured.

Both come from ``realtime.engines``, the selection the voice loop makes, so an eval of "claude"
gets what a clinic configured with ``"engines": {"agent": "claude"}`` gets on a call: Claude,
with the RuleAgent taking over if it fails within a turn.
"""

from __future__ import annotations

from collections.abc import Callable

from core.clinic_config import ENGINES_KEY
from core.models import Clinic
from core.settings import Settings
from realtime import engines
from realtime.agent.protocol import Agent, ClinicProfile

AGENTS = ("rule", "claude")


def available_agents() -> list[str]:
    return ["rule", "claude"] if Settings().anthropic_api_key else ["rule"]


def agent_factory(name: str) -> Callable[[ClinicProfile], Agent]:
    if name == "rule":
        return engines.rule_agent
    configured = Clinic(  # never stored: only its engine choice is read
        slug="evals", name="evals", time_zone="UTC", adapters={ENGINES_KEY: {"agent": name}}
    )
    return engines.ClinicEngines(Settings()).for_clinic(configured).agent
