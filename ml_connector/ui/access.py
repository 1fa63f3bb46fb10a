"""Who may see the page: a user Airflow authenticated (its own JWT, from the session cookie or an
``Authorization: Bearer`` header) who may read the sync DAGs. Each DAG is checked on its own, so a user
sees the entities of the DAGs they may read; one who may read neither gets 403."""

from __future__ import annotations

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails
from airflow.api_fastapi.core_api.security import GetUserDep
from airflow.configuration import conf
from airflow.models.dag import DagModel
from fastapi import HTTPException, status

ENTITIES = ("customers", "suppliers")


def dag_id_of(entity: str) -> str:
    """The DAG that syncs ``entity`` (as :mod:`ml_connector.dag.factory` names it)."""
    return f"workday_{entity}_to_pipedrive"


def _team(dag_id: str) -> str | None:
    """The DAG's team, asked of the metadata database only where teams exist (as Airflow's own
    ``requires_access_dag`` asks)."""
    if not conf.getboolean("core", "multi_team", fallback=False):
        return None
    return DagModel.get_team_name(dag_id)


def readable_entities(user: GetUserDep) -> list[str]:
    """The entities whose sync DAG ``user`` may read (``GET``); 403 when there is none."""
    manager = get_auth_manager()
    allowed = [
        entity
        for entity in ENTITIES
        if manager.is_authorized_dag(
            method="GET",
            details=DagDetails(id=dag_id_of(entity), team_name=_team(dag_id_of(entity))),
            user=user,
        )
    ]
    if not allowed:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "you may not read the Workday → Pipedrive DAGs")
    return allowed
