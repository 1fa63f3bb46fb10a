"""The Airflow Assets a load updates, so another DAG can be scheduled on "Pipedrive organizations were
updated from Workday" (``schedule=[pipedrive_asset("acme.pipedrive.com", "organization")]``).

A load declares one :class:`~airflow.sdk.AssetAlias` as its outlet and adds an event to the asset of each
kind it wrote to: a static asset outlet would be marked updated by every successful load, a dry run and a
run that found nothing to change included. The asset names the Pipedrive company by the host the load
wrote to (the OAuth token's ``api_domain``, or the API-token connection's host).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow.sdk import Asset, AssetAlias

from ml_connector.audit.summary import LoadSummary
from ml_connector.vocabulary import PLURAL, RECORD_KINDS, RecordKind

SCHEME = "pipedrive"


def load_alias(dag_id: str) -> AssetAlias:
    """The load task's outlet: the assets it updates are known only once it has run."""
    return AssetAlias(f"{dag_id}.pipedrive")


def pipedrive_asset(host: str, kind: RecordKind) -> Asset:
    """``pipedrive://<host>/organizations`` or ``.../persons``."""
    if not host or "/" in host:
        raise ValueError(
            f"a Pipedrive asset needs the company's host, such as acme.pipedrive.com, not {host!r}"
        )
    return Asset(f"{SCHEME}://{host}/{PLURAL[kind]}")


@dataclass(frozen=True)
class AssetUpdate:
    asset: Asset
    extra: dict[str, Any]


def load_updates(summary: LoadSummary, host: str) -> list[AssetUpdate]:
    """One update per kind the load created, updated or merged records of, with the run and its counts
    in the event's extra; none for a dry run, a deferred run, or a kind left as it was."""
    if summary.dry_run or summary.deferred_run:
        return []
    updates = []
    for kind in RECORD_KINDS:
        counts = summary.organizations if kind == "organization" else summary.persons
        if counts.created + counts.updated + counts.merged == 0:
            continue
        extra = {
            "entity": summary.entity,
            "dag_id": summary.dag_id,
            "run_id": summary.run_id,
            "mode": summary.mode,
            **counts.model_dump(),
        }
        updates.append(AssetUpdate(pipedrive_asset(host, kind), extra))
    return updates
