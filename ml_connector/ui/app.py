"""The page's FastAPI app, mounted by Airflow's API server under :data:`URL_PREFIX`.

Every route is ``GET`` and needs :func:`~ml_connector.ui.access.readable_entities` (Airflow's login and
read access to the sync DAGs); each shows only the entities whose DAG the user may read.

- ``/``: the page (``?q=`` a Workday or Pipedrive ID shows that record's history);
- ``/api/runs``, ``/api/history?id=``: the same as JSON;
- ``/usage.png``: the token-usage chart; ``/page.js``: the page's script.
"""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse

from ml_connector.audit.plot import usage_chart
from ml_connector.audit.query import UsageReport, usage
from ml_connector.staging.area import StagingArea
from ml_connector.ui import page, views
from ml_connector.ui.access import dag_id_of, readable_entities

URL_PREFIX = "/ml-connector"
USAGE_DAYS = 30
HEADERS = {
    # Shown in a frame of the Airflow UI (same origin) or on its own; nothing from elsewhere.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

# The page's own URLs, below where it is mounted (Airflow mounts it without a name, so no url_for).
PATHS = {"page": "/", "chart": "/usage.png", "script": "/page.js"}

Entities = Annotated[list[str], Depends(readable_entities)]
Ident = Annotated[str, Query(alias="id", min_length=1, max_length=100)]


def create_app(area: Callable[[], StagingArea] = StagingArea) -> FastAPI:
    """The app; ``area`` gives the staging area to read (the configured one by default)."""
    app = FastAPI(title="ml-connector audit", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.update(HEADERS)
        return response

    @app.get("/", response_class=HTMLResponse)
    def show_page(request: Request, entities: Entities, q: Annotated[str, Query(max_length=100)] = "") -> str:
        staging = area()
        here = str(request.scope.get("root_path", "")).rstrip("/")  # where Airflow mounted this app
        query = q.strip()
        found: list[views.HistoryRow] = []
        error = ""
        if query:
            try:
                found = views.history(staging, query, entities)
            except ValueError as exc:
                error = str(exc)
        report = _usage(staging, entities)
        return page.render(
            now=datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
            query=query,
            history=found,
            error=error,
            runs={entity: views.recent_runs(staging, entity) for entity in entities},
            dag_ids={entity: dag_id_of(entity) for entity in entities},
            usage={"days": USAGE_DAYS, "summary": usage_summary(report)},
            urls={name: f"{here}{path}" for name, path in PATHS.items()},
            **page.airflow_links(str(request.scope.get("app_root_path", "")).rstrip("/")),
        )

    @app.get("/api/runs")
    def runs(entities: Entities) -> dict[str, list[dict[str, Any]]]:
        staging = area()
        return {entity: [run.to_dict() for run in views.recent_runs(staging, entity)] for entity in entities}

    @app.get("/api/history")
    def record(entities: Entities, ident: Ident) -> list[dict[str, Any]]:
        try:
            return [row.to_dict() for row in views.history(area(), ident, entities)]
        except ValueError as exc:
            raise HTTPException(404, str(exc)) from None

    @app.get("/usage.png")
    def chart(entities: Entities) -> Response:
        buffer = io.BytesIO()
        usage_chart(_usage(area(), entities), buffer)
        return Response(buffer.getvalue(), media_type="image/png")

    @app.get("/page.js", dependencies=[Depends(readable_entities)])
    def script() -> Response:
        return Response(page.SCRIPT, media_type="text/javascript")

    return app


def _usage(staging: StagingArea, entities: list[str]) -> UsageReport:
    """Usage of the DAGs of ``entities`` (all of the ledger when that is every entity)."""
    only = entities[0] if len(entities) == 1 else None
    return usage(staging, days=USAGE_DAYS, entity=only)


def usage_summary(report: UsageReport) -> str:
    """The period's figures in one sentence."""
    if not report.run_days:
        return f"No runs between {report.start} and {report.end}."
    text = f"{report.total():,} tokens spent between {report.start} and {report.end}"
    peak = report.peak()
    if peak:
        text += f"; the busiest day was {peak[0]} with {peak[1]:,}"
        if report.budget:
            text += f" ({100 * peak[1] / report.budget:.1f}% of the daily budget of {report.budget:,})"
    average = report.average()
    if average is not None:
        text += f"; {average:,.0f} a day on the {len(report.run_days)} day(s) with runs"
    return text + "."
