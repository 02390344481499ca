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

    # The URL Twilio uses to reach the API (behind a proxy: the public one). Signatures are
    # computed over it, so it must match what is configured in Twilio exactly.
    public_base_url: str | None = None

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    log_level: str = "INFO"

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
