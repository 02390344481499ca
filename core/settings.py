"""Process-wide settings, read once from the environment (prefix ``RECEPTIONIST_``).

Every default is the embedded one: a SQLite file and the Temporal dev server under the data
directory. Production sets ``DATABASE_URL`` and ``TEMPORAL_ADDRESS``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

TEMPORAL_CLI_VERSION = "v1.5.1"


def _default_data_dir() -> Path:
    return Path.cwd() / "data"


def _default_cache_dir() -> Path:
    # Outside the checkout on purpose: the Temporal build is slow and shared by every clone.
    return Path.home() / ".cache" / "receptionist"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RECEPTIONIST_", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir)
    cache_dir: Path = Field(default_factory=_default_cache_dir)
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "RECEPTIONIST_DATABASE_URL"),
    )

    temporal_address: str = Field(
        default="127.0.0.1:7233",
        validation_alias=AliasChoices("TEMPORAL_ADDRESS", "RECEPTIONIST_TEMPORAL_ADDRESS"),
    )
    temporal_namespace: str = "default"
    temporal_cli_path: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("TEMPORAL_CLI_PATH", "RECEPTIONIST_TEMPORAL_CLI_PATH"),
    )
    temporal_ui_port: int = 8233
    task_queue_prefix: str = ""

    # Providers. Each is optional: unset means the embedded default is used. Per-clinic adapter
    # settings (clinic.adapters[kind].settings) override these process-wide values.
    twilio_account_sid: str | None = Field(
        default=None, validation_alias=AliasChoices("TWILIO_ACCOUNT_SID")
    )
    twilio_auth_token: str | None = Field(
        default=None, validation_alias=AliasChoices("TWILIO_AUTH_TOKEN")
    )
    twilio_api_base_url: str | None = None  # tests point the SDK at a local server
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_from: str | None = None
    smtp_starttls: bool = True
    hubspot_access_token: str | None = Field(
        default=None, validation_alias=AliasChoices("HUBSPOT_ACCESS_TOKEN")
    )
    hubspot_base_url: str = "https://api.hubapi.com"
    salesforce_instance_url: str | None = None
    salesforce_access_token: str | None = None
    salesforce_api_version: str = "v61.0"
    clearinghouse_url: str | None = None
    clearinghouse_api_key: str | None = None
    clearinghouse_provider_npi: str | None = None
    clearinghouse_provider_name: str | None = None
    # FHIR EHR defaults for clinics whose ``adapters.ehr.settings`` name no secret of their own
    # (integrations/ehr/fhir/config.py): base URL, a static bearer token, or the PEM private
    # key of a SMART Backend Services client.
    fhir_base_url: str | None = None
    fhir_bearer_token: str | None = None
    fhir_private_key: str | None = None
    # Inbound HL7 SIU feed (`receptionist mllp-listen`; `receptionist dev` also starts it when
    # mllp_listen_in_dev is set). 2575 is the port registered for HL7 over MLLP.
    mllp_listen_host: str = "127.0.0.1"
    mllp_listen_port: int = 2575
    mllp_listen_in_dev: bool = False
    # Claude (agent and call summaries); clinics choose it in their ``engines`` section.
    anthropic_api_key: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ANTHROPIC_API_KEY", "RECEPTIONIST_ANTHROPIC_API_KEY"),
    )
    anthropic_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ANTHROPIC_BASE_URL", "RECEPTIONIST_ANTHROPIC_BASE_URL"),
    )
    claude_model: str = "claude-haiku-4-5"
    claude_max_tokens: int = 400
    claude_summary_model: str = "claude-haiku-4-5"
    # The agent's first token must come within this budget (one retry included), else the
    # clinic's on_llm_failure policy answers: the caller never waits on a stuck provider.
    claude_turn_budget_s: float = 1.8
    claude_first_token_timeout_s: float = 1.2
    claude_max_retry_after_s: float = 0.6
    # Deepgram (streaming STT) and ElevenLabs (streaming TTS); clinics choose them in
    # ``engines``. Base URLs are for tests and regional endpoints; unset means the provider's.
    deepgram_api_key: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DEEPGRAM_API_KEY", "RECEPTIONIST_DEEPGRAM_API_KEY"),
    )
    deepgram_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DEEPGRAM_BASE_URL", "RECEPTIONIST_DEEPGRAM_BASE_URL"),
    )
    deepgram_model: str = "nova-3"
    elevenlabs_api_key: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ELEVENLABS_API_KEY", "RECEPTIONIST_ELEVENLABS_API_KEY"),
    )
    elevenlabs_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ELEVENLABS_BASE_URL", "RECEPTIONIST_ELEVENLABS_BASE_URL"),
    )
    # The voice of clinics whose ``voice`` is not an ElevenLabs voice id ("Rachel").
    elevenlabs_voice_id: str = "21m00Tcm4TlvDq8ikWAM"
    elevenlabs_model_id: str = "eleven_flash_v2_5"

    # The URL Twilio uses to reach the API (behind a proxy: the public one). Signatures are
    # computed over it, so it must match what is configured in Twilio exactly.
    public_base_url: str | None = None

    # Dashboard logins: idle logoff, absolute lifetime, and the cookie's Secure flag (only a
    # plain-HTTP development setup without localhost may need it off).
    session_idle_minutes: float = 15
    session_max_hours: float = 12
    session_cookie_secure: bool = True
    # Prometheus /metrics: a bearer token scrapers send; unset, only operators' tokens may read it.
    metrics_token: str | None = None

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    log_level: str = "INFO"

    # Security (see docs/security.md). The keyring is JSON {"active": id, "keys": {id: base64},
    # "index_key": base64}, given inline (or base64 of it) or as a file; with neither, a local
    # keyring is generated once in the data directory (development only, announced loudly).
    keyring: str | None = None
    keyring_file: Path | None = None
    # Bearer token the Temporal UI presents to the codec endpoint (/codec/decode).
    codec_token: str | None = None
    codec_cors_origin: str = "http://localhost:8233"
    # Local development only: accept Twilio requests without a valid signature (logged loudly).
    insecure_skip_twilio_signature: bool = False
    # Per client address on /twilio/* (0 turns the limit off, e.g. for load tests).
    webhook_rate_per_minute: int = 1200

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'receptionist.db'}"

    @property
    def temporal_db_file(self) -> Path:
        return self.data_dir / "temporal.db"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
