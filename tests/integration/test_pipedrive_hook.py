"""PipedriveHook against the sandbox over real HTTP: records, fields, search, errors and retries, budget."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from support.sandbox import FAST, pipedrive_server

from ml_connector.hooks.pipedrive import PipedriveHook
from ml_connector.http.errors import (
    ApiError,
    BudgetExhausted,
    CredentialRejected,
    EdgeBlocked,
    OutcomeUnknown,
    RetriesExhausted,
)
from ml_connector.load.execute import run_concurrently
from ml_connector.sandbox.runtime import RunningSandbox

ORGS = "/api/v2/organizations"


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


# -- records ---------------------------------------------------------------------------------------------
def test_cursor_paging_yields_every_record_one_page_at_a_time(
    hook: PipedriveHook, fresh_sandbox: RunningSandbox
) -> None:
    created = [hook.create("organization", {"name": f"Paged Org {i}"})["id"] for i in range(12)]
    pages = list(hook.iter_pages("organization", page_size=5))
    assert [len(page) for page in pages] == [5, 5, 2]
    assert [record["id"] for page in pages for record in page] == created
    assert pipedrive_server(fresh_sandbox).by_route()[f"GET {ORGS}"] == 3


def test_persons_of_one_organization_and_updated_since(hook: PipedriveHook) -> None:
    org = hook.create("organization", {"name": unique("Acme")})
    other = hook.create("organization", {"name": unique("Other")})
    mine = [
        hook.create(
            "person", {"name": f"Person {i}", "org_id": org["id"], "emails": [{"value": f"p{i}@x.test"}]}
        )
        for i in range(3)
    ]
    hook.create("person", {"name": "Elsewhere", "org_id": other["id"]})
    found = [p["id"] for page in hook.iter_pages("person", org_id=org["id"], page_size=2) for p in page]
    assert found == [p["id"] for p in mine]
    future = datetime.now(UTC) + timedelta(days=1)
    assert list(hook.iter_pages("person", updated_since=future)) == [[]]


def test_create_get_patch_delete(hook: PipedriveHook, fresh_sandbox: RunningSandbox) -> None:
    org = hook.create("organization", {"name": "Globex", "address": {"value": "1 Main St, Springfield"}})
    assert hook.get("organization", org["id"]) == org
    patched = hook.patch("organization", org["id"], {"website": "https://globex.test"})
    assert patched["website"] == "https://globex.test" and patched["name"] == "Globex"
    hook.delete("organization", org["id"])
    assert hook.get("organization", org["id"]) is None
    assert hook.get("person", 999_999) is None


def test_search_finds_exact_matches_across_pages(hook: PipedriveHook) -> None:
    name = unique("Searchable")
    ids = {hook.create("organization", {"name": name})["id"] for _ in range(3)}
    hook.create("organization", {"name": name + " Ltd"})
    hits = hook.search("organization", name, fields=["name"])
    assert {hit["item"]["id"] for hit in hits} == ids
    assert len(hook.search("organization", name.split()[0], exact_match=False)) >= 4


def test_field_definitions_create_options_and_custom_values(hook: PipedriveHook) -> None:
    tier = hook.create_field("organization", "Tier", "enum", ["Gold", "Silver"])
    assert [o["label"] for o in tier["options"]] == ["Gold", "Silver"]
    added = hook.add_field_options("organization", tier["field_code"], ["Bronze"])
    assert [o["label"] for o in added] == ["Bronze"]
    wid = hook.create_field("organization", "Workday ID", "varchar")
    codes = {f["field_code"]: f for f in hook.list_fields("organization")}
    assert {tier["field_code"], wid["field_code"], "name"} <= codes.keys()
    assert [o["label"] for o in codes[tier["field_code"]]["options"]] == ["Gold", "Silver", "Bronze"]
    assert any(f["field_code"] == "name" for f in hook.list_fields("person"))

    org = hook.create(
        "organization",
        {
            "name": "Custom Co",
            "custom_fields": {tier["field_code"]: added[0]["id"], wid["field_code"]: "C-1"},
        },
    )
    page = next(hook.iter_pages("organization", custom_fields=[wid["field_code"]]))
    mine = next(r for r in page if r["id"] == org["id"])
    assert mine["custom_fields"] == {wid["field_code"]: "C-1"}
    assert [h["item"]["id"] for h in hook.search("organization", "C-1", fields=["custom_fields"])] == [
        org["id"]
    ]


def test_map_concurrently_keeps_each_items_outcome(hook: PipedriveHook) -> None:
    payloads: list[dict[str, Any]] = [{"name": f"Batch {i}"} for i in range(10)]
    payloads[4] = {"name": ""}  # fails validation; the others must not care

    outcomes = run_concurrently(lambda p: hook.create("organization", p), payloads, max_workers=4)
    assert [item for item, _ in outcomes] == payloads
    failures = [(i, r) for i, (_, r) in enumerate(outcomes) if isinstance(r, Exception)]
    assert [i for i, _ in failures] == [4]
    assert isinstance(failures[0][1], ApiError) and failures[0][1].status == 400
    assert all(r["name"] == p["name"] for p, r in outcomes if not isinstance(r, Exception))


def test_test_connection_names_the_company(hook: PipedriveHook) -> None:
    ok, message = hook.test_connection()
    assert ok, message
    assert "sandbox-company" in message


# -- what is retried -------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_retryable_statuses_are_retried_then_succeed(
    hook: PipedriveHook, fresh_sandbox: RunningSandbox, status: int
) -> None:
    org = hook.create("organization", {"name": f"Before {status}"})
    route = f"PATCH {ORGS}/{{id}}"
    pipedrive_server(fresh_sandbox).arm(
        route=route, kind="status", status=status, count=2 if status != 429 else 1
    )
    patched = hook.patch("organization", org["id"], {"name": f"After {status}"})
    assert patched["name"] == f"After {status}"
    expected = 3 if status != 429 else 2
    stats = pipedrive_server(fresh_sandbox).stats()
    assert stats["by_route"][route] == expected
    assert stats["tokens_spent"] == hook.tokens_spent == 10


def test_a_throttled_create_is_resent(hook: PipedriveHook, fresh_sandbox: RunningSandbox) -> None:
    """A 429 means the server did nothing: even a create is safe to send again."""
    pipedrive_server(fresh_sandbox).arm(route=f"POST {ORGS}", kind="status", status=429)
    assert hook.create("organization", {"name": "Patient"})["name"] == "Patient"
    assert pipedrive_server(fresh_sandbox).by_route()[f"POST {ORGS}"] == 2


@pytest.mark.parametrize("fault", [{"kind": "status", "status": 503}, {"kind": "drop"}])
def test_a_create_that_may_have_been_applied_is_not_resent(
    hook: PipedriveHook, fresh_sandbox: RunningSandbox, fault: dict[str, object]
) -> None:
    """A 5xx or a dropped connection may come after the write: a second POST could duplicate it."""
    pipedrive_server(fresh_sandbox).arm(route=f"POST {ORGS}", **fault)
    with pytest.raises(OutcomeUnknown, match="may have been applied"):
        hook.create("organization", {"name": "Once"})
    assert pipedrive_server(fresh_sandbox).by_route()[f"POST {ORGS}"] == 1


def test_dropped_connection_and_cut_off_read_are_retried(
    hook: PipedriveHook, fresh_sandbox: RunningSandbox
) -> None:
    org = hook.create("organization", {"name": "Sturdy"})
    pipedrive_server(fresh_sandbox).arm(route=f"GET {ORGS}/{{id}}", kind="drop")
    pipedrive_server(fresh_sandbox).arm(route=f"GET {ORGS}/{{id}}", kind="malformed")
    assert hook.get("organization", org["id"]) == org
    assert pipedrive_server(fresh_sandbox).by_route()[f"GET {ORGS}/{{id}}"] == 3


def test_a_refused_connection_is_resent_even_for_a_create(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing listens on the port: the server never saw the request, so resending is safe."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv(
        "AIRFLOW_CONN_PIPEDRIVE_NOWHERE", f"pipedrive://:token@127.0.0.1:{port}/?protocol=http&plan=premium"
    )
    hook = PipedriveHook("pipedrive_nowhere", retry_policy=FAST)
    with pytest.raises(RetriesExhausted):
        hook.create("organization", {"name": "Nobody home"})


def test_cut_off_create_is_not_repeated(hook: PipedriveHook, fresh_sandbox: RunningSandbox) -> None:
    """The server did the write; sending it again would make a duplicate."""
    pipedrive_server(fresh_sandbox).arm(route=f"POST {ORGS}", kind="malformed")
    with pytest.raises(ApiError, match="may have been applied"):
        hook.create("organization", {"name": "Once"})
    assert pipedrive_server(fresh_sandbox).by_route()[f"POST {ORGS}"] == 1


# -- what is never retried -------------------------------------------------------------------------------
def test_validation_error_surfaces_the_api_message_after_one_request(
    hook: PipedriveHook, fresh_sandbox: RunningSandbox
) -> None:
    with pytest.raises(ApiError) as info:
        hook.create("organization", {"name": "Bad", "a" * 40: "top-level hash key"})
    assert info.value.status == 400
    assert "Validation failed" in info.value.api_message
    assert info.value.detail == "ERR_SCHEMA_VALIDATION_FAILED"
    assert pipedrive_server(fresh_sandbox).by_route()[f"POST {ORGS}"] == 1


def test_not_found_surfaces_the_api_message_after_one_request(
    hook: PipedriveHook, fresh_sandbox: RunningSandbox
) -> None:
    with pytest.raises(ApiError) as info:
        hook.patch("organization", 424242, {"name": "Ghost"})
    assert info.value.status == 404
    assert "Organization not found" in str(info.value)
    assert pipedrive_server(fresh_sandbox).by_route()[f"PATCH {ORGS}/{{id}}"] == 1


def test_edge_403_html_stops_at_once(hook: PipedriveHook, fresh_sandbox: RunningSandbox) -> None:
    pipedrive_server(fresh_sandbox).arm(route=f"POST {ORGS}", kind="status", status=403, count=5)
    with pytest.raises(EdgeBlocked, match="Cloudflare"):
        hook.create("organization", {"name": "Blocked"})
    assert pipedrive_server(fresh_sandbox).by_route()[f"POST {ORGS}"] == 1


def test_edge_block_stops_a_concurrent_batch(hook: PipedriveHook, fresh_sandbox: RunningSandbox) -> None:
    pipedrive_server(fresh_sandbox).arm(route=f"POST {ORGS}", kind="status", status=403, count=100)
    outcomes = run_concurrently(
        lambda i: hook.create("organization", {"name": f"B{i}"}), range(40), max_workers=4
    )
    assert all(isinstance(r, EdgeBlocked) for _, r in outcomes)
    assert pipedrive_server(fresh_sandbox).by_route()[f"POST {ORGS}"] <= 4


def test_json_403_is_an_ordinary_api_error(hook: PipedriveHook, fresh_sandbox: RunningSandbox) -> None:
    body = {
        "success": False,
        "error": "Scope and URL mismatch",
        "errorCode": 403,
        "error_info": "Check scopes",
    }
    pipedrive_server(fresh_sandbox).arm(
        route=f"POST {ORGS}",
        kind="status",
        status=403,
        body=json.dumps(body),
        content_type="application/json",
    )
    with pytest.raises(ApiError) as info:
        hook.create("organization", {"name": "Scoped"})
    assert not isinstance(info.value, EdgeBlocked)
    assert info.value.status == 403 and "Scope and URL mismatch" in str(info.value)
    assert pipedrive_server(fresh_sandbox).by_route()[f"POST {ORGS}"] == 1


def test_wrong_api_token_is_rejected_without_retry(
    fresh_sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    bad = "0" * 40
    uri = fresh_sandbox.pipedrive_conn_uri.replace(fresh_sandbox.config.pipedrive.api_token, bad)
    monkeypatch.setenv("AIRFLOW_CONN_PIPEDRIVE_BAD", uri)
    hook = PipedriveHook("pipedrive_bad", retry_policy=FAST)
    with caplog.at_level(logging.DEBUG), pytest.raises(CredentialRejected) as info:
        hook.create("organization", {"name": "Nope"})
    message = str(info.value)
    assert "pipedrive_bad" in message and "unauthorized access" in message and "API token" in message
    assert pipedrive_server(fresh_sandbox).by_route()[f"POST {ORGS}"] == 1
    assert "pipedrive POST /api/v2/organizations -> 401, cost 5 (not charged)" in caplog.text
    assert "credential alert: " in caplog.text and "pipedrive_bad" in caplog.text
    ok, why = hook.test_connection()
    assert not ok and "pipedrive_bad" in why
    assert bad not in caplog.text + message + why + repr(hook) + repr(hook.config)


# -- budget ----------------------------------------------------------------------------------------------
def test_budget_reserve_refuses_the_call_before_it_is_sent(
    hook: PipedriveHook, fresh_sandbox: RunningSandbox
) -> None:
    reserve = hook.config.budget_reserve
    pipedrive_server(fresh_sandbox).settings(daily_tokens_remaining=reserve + 12)
    assert hook.get("organization", 1) is None  # 1 token; learns the pool from the headers
    assert hook.daily_remaining == reserve + 11
    org = hook.create("organization", {"name": "Last One"})  # 5 -> reserve + 6
    hook.patch("organization", org["id"], {"name": "Last One!"})  # 5 -> reserve + 1
    before = pipedrive_server(fresh_sandbox).by_route()
    with pytest.raises(BudgetExhausted) as info:
        hook.create("organization", {"name": "Too Many"})
    assert info.value.remaining == reserve + 1 and info.value.reserve == reserve
    with pytest.raises(BudgetExhausted):
        next(hook.iter_pages("organization"))
    assert pipedrive_server(fresh_sandbox).by_route() == before
    stats = pipedrive_server(fresh_sandbox).stats()
    assert hook.tokens_spent == stats["tokens_spent"] == 11
    assert "11 tokens spent" in hook.log_usage()


def test_429_with_an_empty_daily_pool_is_budget_exhausted(
    hook: PipedriveHook, fresh_sandbox: RunningSandbox
) -> None:
    pipedrive_server(fresh_sandbox).settings(daily_tokens_remaining=0)
    with pytest.raises(BudgetExhausted):
        hook.create("organization", {"name": "Broke"})
    assert pipedrive_server(fresh_sandbox).by_route()[f"POST {ORGS}"] == 1
    assert hook.daily_remaining == 0


def test_tokens_spent_matches_the_server(hook: PipedriveHook, fresh_sandbox: RunningSandbox) -> None:
    org = hook.create("organization", {"name": "Counted"})
    hook.get("organization", org["id"])
    hook.get("organization", 31337)  # a 404 is charged too
    list(hook.iter_pages("organization", page_size=1))
    hook.search("organization", "Counted")
    hook.list_fields("person")
    hook.test_connection()
    with pytest.raises(ApiError):
        hook.create("organization", {})
    assert (
        hook.tokens_spent
        == pipedrive_server(fresh_sandbox).stats()["tokens_spent"]
        == 5 + 1 + 1 + 10 + 20 + 10 + 2 + 5
    )
