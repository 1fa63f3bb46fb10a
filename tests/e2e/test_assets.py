"""The load's Airflow Assets: a run that wrote emits one event per kind it wrote, with its counts, into
the metadata database; a dry run and a run with nothing to change emit none."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from support.sync_world import SyncWorld

DAG_ID = "workday_customers_to_pipedrive"


def asset_events(uri_prefix: str) -> list[dict[str, Any]]:
    """Every asset event of an asset whose URI starts with ``uri_prefix``, as the metadata DB has it."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(AssetModel.uri, AssetEvent.extra, AssetEvent.source_dag_id, AssetEvent.source_run_id)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.uri.startswith(uri_prefix))
            .order_by(AssetEvent.id)
        ).all()
    return [{"uri": r[0], "extra": dict(r[1]), "dag_id": r[2], "run_id": r[3]} for r in rows]


def test_a_run_that_writes_emits_one_event_per_kind_and_a_dry_run_or_a_no_change_run_none(
    world: SyncWorld,
) -> None:
    prefix = f"pipedrive://{urlsplit(world.sandbox.pipedrive_url).netloc}/"

    dry = world.run("customers", mode="full_refresh", dry_run=True)
    assert str(dry.state) in ("success", "DagRunState.SUCCESS")
    assert world.summary(DAG_ID, dry.run_id)["organizations"]["created"] > 0  # it planned writes...
    assert asset_events(prefix) == []  # ...and emitted nothing

    real = world.run("customers", mode="full_refresh")
    summary = world.summary(DAG_ID, real.run_id)
    events = asset_events(prefix)
    assert [e["uri"] for e in events] == [prefix + "organizations", prefix + "persons"]
    for event, kind in zip(events, ("organizations", "persons"), strict=True):
        assert (event["dag_id"], event["run_id"]) == (DAG_ID, real.run_id)
        assert event["extra"]["entity"] == "customers"
        assert event["extra"]["created"] == summary[kind]["created"] > 0

    again = world.run("customers")  # nothing changed in Workday: nothing written, nothing emitted
    assert str(again.state) in ("success", "DagRunState.SUCCESS")
    assert len(asset_events(prefix)) == 2
