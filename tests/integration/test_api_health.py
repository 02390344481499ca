"""/healthz against a real database and a real Temporal server, and with each one missing."""

from pathlib import Path

from fastapi.testclient import TestClient

from api import create_app
from core.settings import Settings
from stack.devserver import DevServer, free_port


def settings_for(database_url: str, temporal_address: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, temporal_address=temporal_address, data_dir=tmp_path)


def test_healthz_green_with_database_and_temporal(
    sqlite_url: str, temporal_server: DevServer, tmp_path: Path
) -> None:
    app = create_app(settings_for(sqlite_url, temporal_server.address, tmp_path))
    with TestClient(app) as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "temporal": "ok"}


def test_healthz_names_temporal_when_unreachable(sqlite_url: str, tmp_path: Path) -> None:
    app = create_app(settings_for(sqlite_url, f"127.0.0.1:{free_port()}", tmp_path))
    with TestClient(app) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "degraded", "database": "ok", "temporal": "unreachable"}


def test_healthz_names_database_when_unreachable(
    temporal_server: DevServer, tmp_path: Path
) -> None:
    dead = f"postgresql://nobody@127.0.0.1:{free_port()}/nothing"
    app = create_app(settings_for(dead, temporal_server.address, tmp_path))
    with TestClient(app) as client:
        body = client.get("/healthz").json()
    assert body["database"].startswith("error") and body["temporal"] == "ok"
