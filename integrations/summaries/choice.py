"""Which summariser writes a call's summary, with the rule-based one as the safety net."""

from __future__ import annotations

import logging

from anthropic import AsyncAnthropic

from core.settings import Settings
from integrations.claude_client import anthropic_client
from integrations.summaries.claude import ClaudeSummarizer
from integrations.summaries.protocol import SummaryRequest
from integrations.summaries.rule import RuleSummarizer

log = logging.getLogger(__name__)

SUMMARY_TIMEOUT_S = 10.0  # inside the wrap-up activity's 15 s: a slow reply falls back in time


class CallSummaries:
    """Claude when the clinic chooses it and a key is set; the rules otherwise, and whenever
    Claude fails (a summary is always written, never retried into the next hour)."""

    def __init__(self, settings: Settings, client: AsyncAnthropic | None = None) -> None:
        self._settings = settings
        self._client = client
        self._rule = RuleSummarizer()
        self._warned = False

    def _claude(self) -> ClaudeSummarizer | None:
        if self._client is None:
            if not self._settings.anthropic_api_key:
                if not self._warned:
                    self._warned = True
                    log.error(
                        "claude summaries configured without credentials: rule summaries used",
                        extra={"setting": "ANTHROPIC_API_KEY"},
                    )
                return None
            self._client = anthropic_client(self._settings, timeout_s=SUMMARY_TIMEOUT_S)
        return ClaudeSummarizer(self._client, self._settings.claude_summary_model)

    async def summarize(self, engine: str, call: SummaryRequest) -> tuple[str, str]:
        """(summary, the engine that wrote it: "claude" or "rule")."""
        claude = self._claude() if engine == "claude" else None
        if claude is not None:
            try:
                return await claude.summarize(call), "claude"
            except Exception as exc:  # any failure: the rule summary still gets written
                log.warning("claude summary failed", extra={"error": type(exc).__name__})
        return await self._rule.summarize(call), "rule"
