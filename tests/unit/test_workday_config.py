"""Workday connection parsing: defaults, URI and JSON forms through Airflow, and errors that name the field."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from ml_connector.hooks.workday_config import (
    EntitySource,
    InvalidWorkdayConnection,
    WorkdayConfig,
    parse_connection,
)


@dataclass
class FakeConnection:
    conn_id: str = "wd"
    host: str | None = "wd2-impl-services1.workday.com"
    port: int | None = None
    schema: str | None = "acme"
    login: str | None = "client-id"
    password: str | None = "client-secret-value"
    extra: dict[str, Any] = field(default_factory=lambda: {"refresh_token": "refresh-token-value"})

    @property
    def extra_dejson(self) -> dict[str, Any]:
        return self.extra


def parse(**changes: Any) -> WorkdayConfig:
    return parse_connection(FakeConnection(**changes))


def test_defaults_for_an_oauth_connection() -> None:
    config = parse()
    assert config.base_url == "https://wd2-impl-services1.workday.com"
    assert config.auth_kind == "oauth2_refresh_token" and config.api_version == "v45.2"
    assert config.page_size == 999 and config.max_pages_in_flight == 1
    assert str(config.customers_source) == "soap" and str(config.suppliers_source) == "soap"
    assert config.token_url == "https://wd2-impl-services1.workday.com/ccx/oauth2/acme/token"
    assert config.wsdl_url("Revenue_Management") == (
        "https://wd2-impl-services1.workday.com/ccx/service/acme/Revenue_Management/v45.2?wsdl"
    )


def test_isu_connection_with_tenant_in_extra_and_string_extras() -> None:
    config = parse(
        schema=None,
        port=8443,
        login="ISU_Sync",
        password="pw-value",
        extra={
            "auth_kind": "ISU",
            "tenant": "acme",
            "protocol": "http",
            "verify_tls": "false",
            "page_size": "250",
            "timeout": "30",
            "suppliers_source": "raas:ISU_Sync/Suppliers_Report",
        },
    )
    assert config.base_url == "http://wd2-impl-services1.workday.com:8443"
    assert config.isu_username == "ISU_Sync@acme" and config.verify_tls is False
    assert config.page_size == 250 and config.timeout == 30
    assert config.suppliers_source == EntitySource(kind="raas", owner="ISU_Sync", report="Suppliers_Report")
    assert config.raas_url(config.suppliers_source).endswith(
        "/ccx/service/customreport2/acme/ISU_Sync/Suppliers_Report"
    )


def test_wsdl_location_template_and_per_service_override() -> None:
    config = parse(
        extra={
            "refresh_token": "r-value",
            "wsdl_location": "/opt/wsdl/{service}_{version}.wsdl",
            "wsdl_location_resource_management": "https://example.test/Resource.wsdl",
        }
    )
    assert config.wsdl_url("Revenue_Management") == "/opt/wsdl/Revenue_Management_v45.2.wsdl"
    assert config.wsdl_url("Resource_Management") == "https://example.test/Resource.wsdl"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"extra": {"refresh_token": "r", "page_size": 1000}},
            "extra 'page_size': Input should be less than or equal to 999",
        ),
        ({"extra": {"refresh_token": "r", "page_size": 0}}, "extra 'page_size'"),
        ({"extra": {}}, "needs extra 'refresh_token'"),
        ({"extra": {"refresh_token": "r", "api_version": "45"}}, "extra 'api_version': must look like v45.2"),
        ({"extra": {"refresh_token": "r", "customers_source": "graphql"}}, "extra 'customers_source'"),
        ({"extra": {"refresh_token": "r", "suppliers_source": "rest"}}, "no REST resource listing suppliers"),
        ({"extra": {"auth_kind": "isu", "customers_source": "rest"}}, "REST API accepts only OAuth"),
        ({"extra": {"auth_kind": "isu"}, "login": "ISU@acme"}, "without '@tenant'"),
        ({"extra": {"auth_kind": "kerberos"}}, "extra 'auth_kind'"),
        ({"schema": None}, "schema (the tenant)"),
        ({"password": None}, "password: is empty"),
        ({"host": None}, "host: is empty"),
        ({"host": "ftp://x"}, "host:"),
    ],
)
def test_errors_name_the_connection_and_the_field(changes: dict[str, Any], expected: str) -> None:
    with pytest.raises(InvalidWorkdayConnection) as caught:
        parse(**changes)
    message = str(caught.value)
    assert message.startswith("Workday connection 'wd'") and expected in message
    assert "client-secret-value" not in message and "refresh-token-value" not in message


def test_secrets_stay_out_of_reprs() -> None:
    config = parse()
    for text in (repr(config), str(config), str(config.model_dump())):
        assert "client-secret-value" not in text and "refresh-token-value" not in text


def test_airflow_reads_uri_and_json_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    from ml_connector.hooks.workday import WorkdayHook

    monkeypatch.setenv(
        "AIRFLOW_CONN_WORKDAY_DEFAULT",
        "workday://client%2Fid:sec%40ret@services.example.test:8443/acme"
        "?auth_kind=oauth2_refresh_token&refresh_token=rt-value&protocol=https&customers_source=rest",
    )
    config = WorkdayHook().config
    assert config.login == "client/id" and config.password.get_secret_value() == "sec@ret"
    assert config.base_url == "https://services.example.test:8443" and config.customers_source.kind == "rest"

    monkeypatch.setenv(
        "AIRFLOW_CONN_WD_ISU",
        json.dumps(
            {"conn_type": "workday", "host": "h.example.test", "schema": "acme", "login": "ISU",
             "password": "pw-value", "extra": {"auth_kind": "isu", "page_size": 10}}
        ),
    )  # fmt: skip
    hook = WorkdayHook("wd_isu")
    assert hook.config.auth_kind == "isu" and hook.config.page_size == 10
    assert (
        WorkdayHook.conn_name_attr == "workday_conn_id" and WorkdayHook.default_conn_name == "workday_default"
    )
    assert WorkdayHook.conn_type == "workday" and WorkdayHook.hook_name == "Workday"
