"""SMART Backend Services and static bearer tokens against a FHIR server that requires them.

The token endpoint (tests/fakes/smart_auth.py) verifies the signed client assertion with the
registered public key; the FHIR server accepts only the access tokens it issued.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from core.db import Database
from core.settings import Settings
from integrations.ehr.fhir import FhirEhr
from integrations.errors import PermanentError
from integrations.registry import AdapterContext
from tests.conftest import unavailable
from tests.fakes.smart_auth import ASSERTION_TYPE, FakeSmartAuth
from tests.peers.fhir_server import FhirServer, node_ready, running
from tests.peers.fhir_server.scheduling import DAY, FhirCalendar

SECRET = "resource-server-shared-secret-for-tests"
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def pem(key: PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_pem(key: PrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture(scope="module")
def auth_server() -> Iterator[FakeSmartAuth]:
    auth = FakeSmartAuth(SECRET)
    with auth.running():
        yield auth


@pytest.fixture(scope="module")
def fhir_server(auth_server: FakeSmartAuth) -> Iterator[FhirServer]:
    problem = node_ready()
    if problem:
        unavailable(problem)
    with running("--smart-token-url", auth_server.token_url, "--token-secret", SECRET) as server:
        yield server


@pytest.fixture
def auth(auth_server: FakeSmartAuth, rsa_key: rsa.RSAPrivateKey) -> FakeSmartAuth:
    auth_server.issued.clear()
    auth_server.received.clear()
    auth_server.expires_in = 300
    auth_server.revoke_after = None
    auth_server.clients = {"receptionist": public_pem(rsa_key)}
    return auth_server


def admin_token(lifetime: int = 300) -> str:
    return jwt.encode({"sub": "admin", "exp": int(time.time()) + lifetime}, SECRET, "HS256")


@pytest.fixture
def server(fhir_server: FhirServer) -> FhirServer:
    fhir_server.reset()
    fhir_server.headers["authorization"] = f"Bearer {admin_token()}"
    return fhir_server


@pytest.fixture
async def context(sqlite_url: str) -> AsyncIterator[AdapterContext]:
    db = Database(sqlite_url)
    yield AdapterContext(db=db, settings=Settings())
    await db.dispose()


def smart(**auth: object) -> dict[str, object]:
    return {"type": "smart", "client_id": "receptionist", "key_id": "k1", **auth}


async def test_rs384_client_assertion_with_discovery_and_a_cached_token(
    server: FhirServer,
    context: AdapterContext,
    auth: FakeSmartAuth,
    rsa_key: rsa.RSAPrivateKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_FHIR_PRIVATE_KEY", pem(rsa_key))
    ehr = FhirEhr(
        {"base_url": server.base_url, "auth": smart(private_key_env="TEST_FHIR_PRIVATE_KEY")},
        context,
    )
    calendar = FhirCalendar(server)
    calendar.slot(DAY)
    stored = await ehr.book(calendar.booking(DAY))  # several requests, one token
    assert (await ehr.read(stored.external_id)).status == "booked"
    await ehr.aclose()
    assert len(auth.issued) == 1
    (request,) = auth.requests_to("POST", "/token")
    form = request.form()
    assert form["grant_type"] == "client_credentials"
    assert form["client_assertion_type"] == ASSERTION_TYPE
    assert "system/Appointment" in form["scope"]
    header = jwt.get_unverified_header(form["client_assertion"])
    assert (header["alg"], header["kid"], header["typ"]) == ("RS384", "k1", "JWT")
    claims = jwt.decode(form["client_assertion"], options={"verify_signature": False})
    assert claims["iss"] == claims["sub"] == "receptionist"
    assert claims["aud"] == auth.token_url
    assert 0 < claims["exp"] - time.time() <= 300


async def test_es384_key_from_a_file_and_a_configured_token_url(
    server: FhirServer,
    context: AdapterContext,
    auth: FakeSmartAuth,
    ec_key: ec.EllipticCurvePrivateKey,
    tmp_path: Path,
) -> None:
    auth.register("receptionist", public_pem(ec_key))
    key_file = tmp_path / "client.pem"
    key_file.write_text(pem(ec_key))
    settings = smart(algorithm="ES384", private_key_file=str(key_file), token_url=auth.token_url)
    ehr = FhirEhr({"base_url": server.base_url, "auth": settings}, context)
    calendar = FhirCalendar(server)
    calendar.slot(DAY)
    await ehr.book(calendar.booking(DAY))
    await ehr.aclose()
    assert len(auth.issued) == 1
    assert not server_requests_to_discovery(auth)


def server_requests_to_discovery(auth: FakeSmartAuth) -> bool:
    return any("smart-configuration" in r.path for r in auth.received)


async def test_token_is_refreshed_before_it_expires(
    server: FhirServer,
    context: AdapterContext,
    auth: FakeSmartAuth,
    rsa_key: rsa.RSAPrivateKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    auth.expires_in = 2
    monkeypatch.setenv("TEST_FHIR_PRIVATE_KEY", pem(rsa_key))
    settings = smart(private_key_env="TEST_FHIR_PRIVATE_KEY", refresh_margin_seconds=1)
    ehr = FhirEhr({"base_url": server.base_url, "auth": settings}, context)
    await ehr.client.request("GET", "Slot")
    await ehr.client.request("GET", "Slot")
    assert len(auth.issued) == 1
    await asyncio.sleep(1.2)  # inside the refresh margin now, though the token still works
    await ehr.client.request("GET", "Slot")
    await ehr.aclose()
    assert len(auth.issued) == 2


async def test_a_token_refused_by_the_server_is_replaced_once(
    server: FhirServer,
    context: AdapterContext,
    auth: FakeSmartAuth,
    rsa_key: rsa.RSAPrivateKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    auth.revoke_after = 1  # announced for 300 s, dead after 1 s
    monkeypatch.setenv("TEST_FHIR_PRIVATE_KEY", pem(rsa_key))
    ehr = FhirEhr(
        {"base_url": server.base_url, "auth": smart(private_key_env="TEST_FHIR_PRIVATE_KEY")},
        context,
    )
    await ehr.client.request("GET", "Slot")
    await asyncio.sleep(1.5)
    await ehr.client.request("GET", "Slot")  # 401, new token, same request again: fine
    await ehr.aclose()
    assert len(auth.issued) == 2


async def test_unregistered_key_is_refused_clearly(
    server: FhirServer,
    context: AdapterContext,
    auth: FakeSmartAuth,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    monkeypatch.setenv("TEST_FHIR_PRIVATE_KEY", pem(stranger))
    ehr = FhirEhr(
        {"base_url": server.base_url, "auth": smart(private_key_env="TEST_FHIR_PRIVATE_KEY")},
        context,
    )
    with pytest.raises(PermanentError) as refused:
        await ehr.read("anything")
    await ehr.aclose()
    assert refused.value.code == "fhir_auth_refused"
    assert "invalid_client" in str(refused.value)
    assert auth.issued == []


async def test_missing_secret_is_named(context: AdapterContext) -> None:
    with pytest.raises(PermanentError) as refused:
        FhirEhr(
            {"base_url": "https://ehr.example", "auth": smart(private_key_env="NOT_SET_ANYWHERE")},
            context,
        )
    assert "NOT_SET_ANYWHERE" in str(refused.value)


async def test_static_bearer_token(
    server: FhirServer, context: AdapterContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_FHIR_TOKEN", admin_token())
    good = FhirEhr(
        {"base_url": server.base_url, "auth": {"type": "bearer", "token_env": "TEST_FHIR_TOKEN"}},
        context,
    )
    calendar = FhirCalendar(server)
    calendar.slot(DAY)
    assert (await good.book(calendar.booking(DAY))).status == "booked"
    await good.aclose()

    monkeypatch.setenv("TEST_FHIR_TOKEN", admin_token(lifetime=-10))  # expired
    expired = FhirEhr(
        {"base_url": server.base_url, "auth": {"type": "bearer", "token_env": "TEST_FHIR_TOKEN"}},
        context,
    )
    with pytest.raises(PermanentError) as refused:
        await expired.read("anything")
    await expired.aclose()
    assert refused.value.code == "fhir_login"  # the OperationOutcome issue code
