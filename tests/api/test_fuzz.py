"""Schemathesis against a real running stack (core + HTTP on the shared Redis, sim workers, a real SOCKS5
proxy), every operation of the served OpenAPI document, valid and invalid input: no 5xx but the documented
capacity 503s, every status documented for its operation, every body as documented, no traceback logged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import CheckContext
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from support import API_KEY, RunningService, eventually, scan, wait_status

EXAMPLES = 60  # per operation and generation mode: about 2400 requests, ~20 s here
CAPACITY = ("NO_CAPACITY", "NO_PROXY_CAPACITY")  # the only 503s a healthy stack may answer
ORDER = {"GET": 0, "PUT": 1, "POST": 1, "DELETE": 2}  # deleting the seeded ids last keeps them around longest


def no_server_fault(ctx: CheckContext, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """A 5xx only for capacity: Redis is up, so not even ``REDIS_UNAVAILABLE``."""
    if response.status_code < 500:
        return
    code = (
        response.json().get("error")
        if response.headers.get("content-type", [""])[0].startswith("application/json")
        else None
    )
    if response.status_code != 503 or code not in CAPACITY:
        raise AssertionError(
            f"{response.status_code} {code}: a server fault answering {case.method} {case.formatted_path}"
        )


CHECKS = [
    no_server_fault,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
    negative_data_rejection,
]


async def seed(running: RunningService, sim_url: str) -> dict[str, list[str]]:
    """A connected session with a queued message, one showing a QR; their ids by kind of path parameter."""
    api = running.api
    connected, showing = [(await api.post("/api/sessions/provision", json={})).json()["sessionId"] for _ in range(2)]
    qr = (await wait_status(api, connected, "qr_ready"))["qr"]
    await scan(sim_url, qr, "972501111111")
    await wait_status(api, connected, "connected")
    await wait_status(api, showing, "qr_ready")
    await eventually(lambda: command_url(running, showing))  # a pairing code can be asked of it
    await api.post(f"/api/sessions/{connected}/queue/pause")
    sent = await api.post("/api/v1/send", json={"to": "+972502345678", "message": "hi", "sessionId": connected})
    proxies = [proxy["id"] for proxy in (await api.get("/api/proxies")).json()["proxies"]]
    return {"sessions": [connected, showing], "messages": [sent.json()["messageId"]], "proxies": proxies}


async def command_url(running: RunningService, session_id: str) -> str:
    return (await running.core.store.get(session_id)).command_url


def real_ids(path: str, ids: dict[str, list[str]]) -> list[str]:
    if "{id}" not in path:
        return []
    return ids[
        "messages"
        if path.startswith("/api/v1/messages")
        else "proxies"
        if path.startswith("/api/proxies")
        else "sessions"
    ]


def modes(operation: schemathesis.APIOperation) -> list[schemathesis.GenerationMode]:
    """Valid input always; invalid input where the operation takes any (nothing in ``GET /health`` can be wrong)."""
    takes_input = bool(operation.body) or any(True for _ in operation.iter_parameters())
    return [schemathesis.GenerationMode.POSITIVE, *([schemathesis.GenerationMode.NEGATIVE] if takes_input else [])]


def fuzz(document: dict, base_url: str, ids: dict[str, list[str]]) -> list[str]:
    """Run every operation in both generation modes; the failures found, one line each (the first per operation
    and mode)."""
    schema = schemathesis.openapi.from_dict(document)
    http = requests.Session()
    http.trust_env = False  # loopback only, whatever proxy the environment names
    operations = sorted(
        (result.ok() for result in schema.get_all_operations()), key=lambda op: (ORDER[op.method.upper()], op.label)
    )
    failures = []
    for operation in operations:
        for mode in modes(operation):
            strategy = st.one_of(
                operation.as_strategy(mode),
                *schema.get_strategies_from_examples(operation),
                *(operation.as_strategy(mode, path_parameters={"id": i}) for i in real_ids(operation.path, ids)),
            )
            try:
                run_examples(
                    strategy,
                    lambda case: case.call_and_validate(
                        base_url=base_url, session=http, headers=auth_headers(case), checks=CHECKS
                    ),
                )
            except (Exception, BaseExceptionGroup) as error:  # schemathesis' FailureGroup; every failure is reported
                failures.append(f"{operation.label} [{mode.value}]: {error}")
    return failures


def auth_headers(case: schemathesis.Case) -> dict[str, str]:
    """The API key, but not for a case made invalid by leaving the key out (the server must refuse that one;
    adding the key back would make it valid while it is judged as invalid). Another invalid header still gets
    the key, so the handler's own checks are reached."""
    headers = case.meta.components.get(ParameterLocation.HEADER) if case.meta else None
    invalid = headers is not None and headers.mode is schemathesis.GenerationMode.NEGATIVE
    return {} if invalid and "X-API-Key" not in (case.headers or {}) else {"X-API-Key": API_KEY}


def run_examples(strategy: st.SearchStrategy, call: Callable[[schemathesis.Case], object]) -> None:
    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def examples(case: schemathesis.Case) -> None:
        call(case)

    examples()


@pytest.mark.timeout(240)
async def test_fuzzing_every_operation_finds_no_server_fault_and_nothing_undocumented(
    start_service, sim, socks_proxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    running: RunningService = await start_service(PROXY_URL_1=socks_proxy().url)
    ids = await seed(running, sim.url)
    document = (await running.api.get("/api/openapi.json")).json()
    failures = await asyncio.to_thread(fuzz, document, running.service.base_url, ids)
    assert failures == [], "\n\n".join(failures)
    faults = [record for record in caplog.records if record.exc_info or record.levelno >= logging.ERROR]
    assert faults == [], [record.getMessage() for record in faults]
