"""The rule-based summary (core/summary.py) behind the summariser protocol: offline, instant."""

from __future__ import annotations

from core.summary import summarize
from integrations.summaries.protocol import SummaryRequest


class RuleSummarizer:
    async def summarize(self, call: SummaryRequest) -> str:
        return summarize(call.facts)
