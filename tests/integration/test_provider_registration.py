"""Both connection types reach Airflow's providers manager with their form fields (the UI reads these)."""

from __future__ import annotations

import pytest
from airflow.providers_manager import ProvidersManager
from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime


@pytest.fixture(scope="module")
def manager() -> ProvidersManager:
    return ProvidersManager()


def test_package_is_a_registered_provider(manager: ProvidersManager) -> None:
    assert "ml-connector" in manager.providers


@pytest.mark.parametrize(
    ("conn_type", "hook_class", "name"),
    [
        ("workday", "ml_connector.hooks.workday.WorkdayHook", "Workday"),
        ("pipedrive", "ml_connector.hooks.pipedrive.PipedriveHook", "Pipedrive"),
    ],
)
def test_connection_type_resolves_to_its_hook(conn_type: str, hook_class: str, name: str) -> None:
    """Workers resolve a connection's hook through the task runtime's providers manager."""
    hook = ProvidersManagerTaskRuntime().hooks[conn_type]
    assert hook is not None
    assert hook.hook_class_name == hook_class
    assert hook.hook_name == name
    assert hook.connection_type == conn_type


@pytest.mark.parametrize(
    ("conn_type", "fields", "secret"),
    [
        (
            "workday",
            {
                "auth_kind",
                "refresh_token",
                "api_version",
                "customers_source",
                "suppliers_source",
                "verify_tls",
                "timeout",
            },
            "refresh_token",
        ),
        (
            "pipedrive",
            {"auth_kind", "refresh_token", "plan", "seats", "budget_reserve", "verify_tls", "timeout"},
            "refresh_token",
        ),
    ],
)
def test_form_fields_are_declared(
    manager: ProvidersManager, conn_type: str, fields: set[str], secret: str
) -> None:
    widgets = manager.connection_form_widgets
    declared = {
        key.removeprefix(f"extra__{conn_type}__")
        for key in widgets
        if key.startswith(f"extra__{conn_type}__")
    }
    assert fields <= declared
    assert widgets[f"extra__{conn_type}__{secret}"].is_sensitive
    assert not widgets[f"extra__{conn_type}__auth_kind"].is_sensitive


def test_standard_fields_are_relabelled(manager: ProvidersManager) -> None:
    behaviours = manager.field_behaviours
    assert behaviours["workday"]["relabeling"]["schema"] == "Tenant"
    assert behaviours["pipedrive"]["relabeling"]["host"] == "API domain"
    assert "schema" in behaviours["pipedrive"]["hidden_fields"]
