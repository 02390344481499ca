"""Tenant isolation and the role matrix, over every clinic-scoped operation of the OpenAPI
document: an operation added later is tested without anyone remembering to list it.

- another clinic's users (every role) get 404 on anything under that clinic, never its data;
- a clinic's users naming another clinic's record under their own clinic get 404 too;
- each role gets 403 exactly where the role matrix says so.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adminapi import roles
from core.models import Role
from stack.devserver import DevServer
from tests.admin.conftest import AdminApi, api_settings, serve_admin_api
from tests.admin.routes import VALID_BODIES, Operation, clinic_operations
from tests.conftest import new_database_url

OPERATIONS = clinic_operations()
TENANT_ROLES = (Role.ADMIN, Role.STAFF, Role.INTEGRATOR)

# The matrix, written out independently of adminapi.roles (README "Dashboard" documents it).
ADM, STF, INT, OPR = Role.ADMIN, Role.STAFF, Role.INTEGRATOR, Role.OPERATOR
MATRIX: dict[str, set[Role]] = {
    "GET /settings": {OPR, ADM, STF, INT},
    "PATCH /settings": {OPR, ADM},
    "GET /phone-numbers": {OPR, ADM, STF, INT},
    "PUT /phone-numbers": {OPR, ADM},
    "GET /adapters": {OPR, ADM},
    "PUT /adapters/{kind}": {OPR, ADM},
    "GET /providers": {OPR, ADM, STF, INT},
    "POST /providers": {OPR, ADM, INT},
    "PUT /providers/{provider_id}": {OPR, ADM, INT},
    "DELETE /providers/{provider_id}": {OPR, ADM, INT},
    "GET /appointment-types": {OPR, ADM, STF, INT},
    "POST /appointment-types": {OPR, ADM, INT},
    "PUT /appointment-types/{type_id}": {OPR, ADM, INT},
    "DELETE /appointment-types/{type_id}": {OPR, ADM, INT},
    "GET /appointments": {ADM, STF, INT},
    "POST /appointments/{appointment_id}/cancel": {ADM, STF, INT},
    "GET /calls": {ADM, STF, INT},
    "GET /calls/live": {ADM, STF},
    "GET /calls/{call_id}": {ADM, STF, INT},
    "GET /calls/{call_id}/recording": {ADM, STF},
    "GET /tasks": {ADM, STF, INT},
    "GET /tasks/{task_id}": {ADM, STF, INT},
    "POST /tasks/{task_id}/resolve": {ADM, STF, INT},
    "GET /metrics": {OPR, ADM, STF, INT},
    "GET /users": {OPR, ADM},
    "POST /users": {OPR, ADM},
    "PATCH /users/{user_id}": {OPR, ADM},
    "GET /tokens": {OPR, ADM},
    "POST /tokens": {OPR, ADM},
    "DELETE /tokens/{token_id}": {OPR, ADM},
    "GET /audit": {ADM},
    "GET /audit/verify": {ADM},
}


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def shared(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    temporal_server: DevServer,
) -> AsyncIterator[AdminApi]:
    """Two clinics for the whole module: these tests only read or are refused. (Temporal is
    up, as in production, for the routes that reach it.)"""
    tmp: Path = tmp_path_factory.mktemp("isolation")
    settings = api_settings(
        new_database_url(request.param, tmp, request), tmp,
        temporal_address=temporal_server.address, task_queue_prefix="isolation-",
    )  # fmt: skip
    async for api in serve_admin_api(settings):
        yield api


def _query(op: Operation) -> dict[str, str]:
    return {"once": "true"} if op.path.endswith("/live") else {}


async def _send(api: AdminApi, op: Operation, url: str, headers: dict[str, str], body: object):  # type: ignore[no-untyped-def]
    return await api.client.request(
        op.method, url, headers=headers, params=_query(op),
        json=body if op.has_body else None,
    )  # fmt: skip


def test_every_operation_is_in_the_matrix() -> None:
    """A new clinic-scoped route must say who may use it (campaign routes are the campaigns
    issue's; they still go through the isolation tests below)."""
    missing = [op.id for op in OPERATIONS if op.id not in MATRIX and "/campaigns" not in op.path]
    assert not missing, f"add to MATRIX: {missing}"
    assert len(OPERATIONS) >= len(MATRIX)


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.id)
async def test_other_clinic_gets_404(shared: AdminApi, op: Operation) -> None:
    b_ids = shared.b.ids()
    b_secrets = [shared.b.call_sid, shared.b.patient_id]
    for role in TENANT_ROLES:
        account = shared.a.accounts[role]
        response = await _send(shared, op, op.url(b_ids), account.headers, {})
        assert response.status_code == 404, (role, response.status_code, response.text)
        assert response.json() == {"detail": "clinic not found"}
        assert not any(secret in response.text for secret in b_secrets)


@pytest.mark.parametrize(
    "op", [op for op in OPERATIONS if set(op.params) - {"clinic_id", "kind"}], ids=lambda op: op.id
)
async def test_other_clinics_record_under_own_clinic_gets_404(
    shared: AdminApi, op: Operation
) -> None:
    allowed = [r for r in TENANT_ROLES if r in MATRIX.get(op.id, set(TENANT_ROLES))]
    body = VALID_BODIES.get(op.id, {})
    if op.has_body and op.id in MATRIX:
        assert op.id in VALID_BODIES, f"add a valid body for {op.id} to VALID_BODIES"
    for role in allowed:
        url = op.url(shared.b.ids(), clinic_id=shared.a.clinic_id)
        response = await _send(shared, op, url, shared.a.accounts[role].headers, body)
        # Routes outside MATRIX (campaigns) may also refuse the role: 403 leaks nothing either.
        refused = (404, 422) if op.id in MATRIX else (403, 404, 422)
        assert response.status_code in refused, (role, response.status_code, response.text)
        assert shared.b.call_sid not in response.text


@pytest.mark.parametrize("op", [op for op in OPERATIONS if op.id in MATRIX], ids=lambda op: op.id)
async def test_role_matrix(shared: AdminApi, op: Operation) -> None:
    """Refused roles get 403; allowed roles get past the check (to a record lookup on an id
    that does not exist, a validation error on an empty body, or the answer of a read)."""
    for role in (*TENANT_ROLES, Role.OPERATOR):
        account = shared.operator if role is Role.OPERATOR else shared.a.accounts[role]
        ids = {**shared.a.ids(), **{p: "no-such-id" for p in op.params if p.endswith("_id")}}
        ids["clinic_id"], ids["kind"] = shared.a.clinic_id, "sms"
        body = {} if op.method != "POST" or "/cancel" not in op.path else {"reason": ""}
        response = await _send(shared, op, op.url(ids), account.headers, body)
        if role in MATRIX[op.id]:
            assert response.status_code not in (401, 403), (role, response.text)
            assert response.status_code < 500, (role, response.text)
            assert response.text != '{"detail":"clinic not found"}'
        else:
            assert response.status_code == 403, (role, response.status_code, response.text)


def test_matrix_matches_the_code() -> None:
    """The written matrix and adminapi.roles agree on the groups they share."""
    assert MATRIX["GET /calls"] == set(roles.CALLS)
    assert MATRIX["PATCH /settings"] == set(roles.WRITE_SETTINGS)
    assert MATRIX["POST /providers"] == set(roles.WRITE_CATALOG)
    assert MATRIX["GET /calls/{call_id}/recording"] == set(roles.AUDIO_AND_LIVE)
