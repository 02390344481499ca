"""The Claude agent: the ``Agent`` protocol over Anthropic's streaming Messages API."""

from realtime.agent.claude.agent import ClaudeAgent, ClaudeOptions
from realtime.agent.claude.errors import ClaudeUnavailable

__all__ = ["ClaudeAgent", "ClaudeOptions", "ClaudeUnavailable"]
