"""The Airflow plugin: the page's FastAPI app, mounted by the API server, and a link to it in the
navigation (an external view, which the Airflow UI shows in a frame at ``/plugin/workday-pipedrive``).

Importing this module does nothing else: Airflow loads plugins in every component (scheduler, workers),
so the app, with the audit modules and pandas behind it, is built on the API server's first request.
"""

from __future__ import annotations

from functools import cache
from typing import Any
from urllib.parse import urlsplit

from airflow.configuration import conf
from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/ml-connector"  # ml_connector.ui.app.URL_PREFIX, without importing the app
NAV_ROUTE = "workday-pipedrive"


@cache
def _app() -> Any:
    from ml_connector.ui.app import create_app

    return create_app()


class LazyApp:
    """An ASGI app that builds the real one (:func:`ml_connector.ui.app.create_app`) when first called."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await _app()(scope, receive, send)


def _base_path() -> str:
    """The path Airflow is served under (``[api] base_url``), without its trailing slash."""
    return urlsplit(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")


class MlConnectorPlugin(AirflowPlugin):
    name = "ml_connector"
    fastapi_apps = [{"app": LazyApp(), "url_prefix": URL_PREFIX, "name": "Workday → Pipedrive audit"}]
    external_views = [
        {
            "name": "Workday → Pipedrive",
            "href": f"{_base_path()}{URL_PREFIX}/",
            "url_route": NAV_ROUTE,
            "destination": "nav",
            "nav_top_level": True,
        }
    ]
