"""Which Airflow Asset events a load's summary makes (pure: no Airflow run)."""

from __future__ import annotations

import pytest

from ml_connector.audit.summary import KindCounts, LoadSummary
from ml_connector.dag.assets import load_alias, load_updates, pipedrive_asset


def summary(
    *, dry_run: bool = False, orgs: KindCounts | None = None, persons: KindCounts | None = None
) -> LoadSummary:
    return LoadSummary(
        dag_id="workday_suppliers_to_pipedrive",
        run_id="scheduled__2026-12-06T10:00:00+00:00",
        entity="suppliers",
        mode="incremental",
        dry_run=dry_run,
        organizations=orgs or KindCounts(),
        persons=persons or KindCounts(),
    )


def test_each_kind_written_is_one_event_with_the_run_and_its_counts() -> None:
    updates = load_updates(
        summary(orgs=KindCounts(read=5, created=2, unchanged=3), persons=KindCounts(read=4, updated=1)),
        "acme.pipedrive.com",
    )
    assert [u.asset.uri for u in updates] == [
        "pipedrive://acme.pipedrive.com/organizations",
        "pipedrive://acme.pipedrive.com/persons",
    ]
    assert updates[0].extra["entity"] == "suppliers"
    assert updates[0].extra["run_id"] == "scheduled__2026-12-06T10:00:00+00:00"
    assert (updates[0].extra["created"], updates[0].extra["unchanged"]) == (2, 3)
    assert updates[1].extra["updated"] == 1


def test_a_kind_left_as_it_was_a_dry_run_and_a_deferred_run_emit_nothing() -> None:
    only_orgs = load_updates(summary(orgs=KindCounts(merged=1), persons=KindCounts(unchanged=9)), "h")
    assert [u.asset.uri for u in only_orgs] == ["pipedrive://h/organizations"]
    assert load_updates(summary(dry_run=True, orgs=KindCounts(created=3)), "h") == []
    deferred = summary(orgs=KindCounts(created=3))
    deferred.deferred_run = True
    assert load_updates(deferred, "h") == []


def test_the_asset_names_the_company_by_its_host() -> None:
    assert pipedrive_asset("acme.pipedrive.com", "person").uri == "pipedrive://acme.pipedrive.com/persons"
    with pytest.raises(ValueError, match="company's host"):
        pipedrive_asset("https://acme.pipedrive.com", "person")
    assert load_alias("workday_customers_to_pipedrive").name == "workday_customers_to_pipedrive.pipedrive"
