"""The offline, deterministic receptionist: intents and slot filling, no LLM."""

from realtime.agent.rule.agent import RuleAgent

__all__ = ["RuleAgent"]
