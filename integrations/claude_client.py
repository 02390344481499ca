"""The process's Anthropic client, configured from settings (key, base URL)."""

from __future__ import annotations

from anthropic import AsyncAnthropic

from core.settings import Settings


def anthropic_client(settings: Settings, *, timeout_s: float = 30.0) -> AsyncAnthropic:
    """Retries are the caller's (the voice agent's one retry must fit its turn budget)."""
    return AsyncAnthropic(
        api_key=settings.anthropic_api_key,
        base_url=settings.anthropic_base_url,
        max_retries=0,
        timeout=timeout_s,
    )
