"""``discover`` against a sandbox tenant that names its worktag types as a real one does: the starter mapping
it writes, used unchanged, syncs industry and region; the shipped mapping is warned about."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.sandbox import FAST, PipedriveApi
from support.staged import staged_full_refresh

from ml_connector.dag.tasks import load
from ml_connector.hooks.workday import WorkdayHook
from ml_connector.mapping import load_mapping
from ml_connector.onboarding.discover import add_discover_parser, run_discover
from ml_connector.onboarding.sample import mapping_coverage, read_sample
from ml_connector.sandbox.config import WorktagTypes
from ml_connector.sandbox.runtime import RunningSandbox

ROOT = Path(__file__).resolve().parents[2]
RENAMED = WorktagTypes.parse("industry=CUSTOM_WORKTAG_1,region=CUSTOM_WORKTAG_3")


def _discover(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="ml-connector")
    add_discover_parser(parser.add_subparsers(dest="command", required=True))
    return run_discover(parser.parse_args(["discover", *argv]))


def _values_by_role(sandbox: RunningSandbox, role: str) -> dict[str, str]:
    """Customer_ID -> the descriptor of its worktag with ``role``, from the sandbox's own records."""
    store = sandbox.workday_app.state.tenant.store
    return {
        version.record.customer_id: next(
            t.value.descriptor for t in version.record.worktags if t.role == role
        )
        for version in store.customers(store.now())
    }


def test_the_written_mapping_syncs_the_renamed_worktag_types_unchanged(
    make_sandbox: Callable[..., RunningSandbox],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sandbox = make_sandbox(customers=30, suppliers=10, worktag_types=RENAMED)
    monkeypatch.setenv("AIRFLOW_CONN_WORKDAY_DEFAULT", sandbox.workday_conn_uri)
    monkeypatch.setenv("AIRFLOW_CONN_PIPEDRIVE_DEFAULT", sandbox.pipedrive_conn_uri)
    target = tmp_path / "mappings" / "customers.yaml"

    assert (
        _discover("--entity", "customers", "--sample", "20", "--format", "json", "--write", str(target)) == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["records"] == 20 and report["written"] == str(target)
    types = {w["type_id"]: w for w in report["worktag_types"]}
    assert set(types) == {"CUSTOM_WORKTAG_1", "SEGMENT", "CUSTOM_WORKTAG_3"}
    assert types["CUSTOM_WORKTAG_1"]["looks_like"] == "industry" and types["CUSTOM_WORKTAG_1"]["share"] == 1.0
    assert types["CUSTOM_WORKTAG_3"]["looks_like"] == "region"
    assert report["contacts"] > 0 and sum(report["contacts_per_record"].values()) == 20
    # the same call again would replace the file: refused
    assert _discover("--entity", "customers", "--write", str(target)) == 1
    assert "already exists" in capsys.readouterr().err

    ctx = staged_full_refresh(target, tmp_path / "staging", datetime(2026, 12, 1, tzinfo=UTC))
    written = ctx.files.read_table("transformed_organizations").num_rows
    load(ctx)

    api = PipedriveApi(sandbox, rate_limits=False)
    key, industry, region = (
        api.field_code("organization", name)
        for name in ("Workday ID", "Workday industry", "Workday sales region")
    )
    organizations = {o["custom_fields"][key]: o["custom_fields"] for o in api.records("organizations")}
    industries, regions = _values_by_role(sandbox, "industry"), _values_by_role(sandbox, "region")
    assert len(organizations) == written >= 25  # the odd record may be rejected (an awkward name)
    for customer_id, fields in organizations.items():
        assert fields.get(industry) == industries[customer_id], customer_id
        assert fields.get(region) == regions[customer_id], customer_id
    assert {fields[industry] for fields in organizations.values()} <= set(industries.values())
    assert len({fields[industry] for fields in organizations.values()}) > 1


def test_the_shipped_mapping_is_warned_about_on_a_renamed_tenant_only(
    make_sandbox: Callable[..., RunningSandbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = load_mapping(ROOT / "include" / "mappings" / "customers.yaml")
    warnings = {}
    for label, types in (("renamed", RENAMED), ("default", WorktagTypes())):
        sandbox = make_sandbox(customers=25, suppliers=5, worktag_types=types)
        monkeypatch.setenv("AIRFLOW_CONN_WORKDAY_DEFAULT", sandbox.workday_conn_uri)
        hook = WorkdayHook(retry_policy=FAST)
        try:
            warnings[label] = [str(w) for w in mapping_coverage(shipped, read_sample(hook, "customers", 25))]
        finally:
            hook.close()
    assert warnings["renamed"] == [
        "Workday industry: no sampled customer has worktag type INDUSTRY; types seen: "
        "CUSTOM_WORKTAG_1 (100%), CUSTOM_WORKTAG_3 (100%), SEGMENT (100%)"
    ]
    assert warnings["default"] == []
