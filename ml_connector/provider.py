"""Provider metadata read by Airflow's providers manager (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any

from ml_connector import __version__


def get_provider_info() -> dict[str, Any]:
    """Describe this package to Airflow; connection types are added with the hooks."""
    return {
        "package-name": "ml-connector",
        "name": "ml-connector",
        "description": "Workday Financial Management customers and suppliers synced to Pipedrive CRM.",
        "versions": [__version__],
    }
