"""Every error class of the product, and what it means: retry, a person must act, or defer; and whether
it stops the run. The DAG retry policy and the write executor act on exactly this."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import ml_connector
from ml_connector.dag.factory import RETRY_POLICY
from ml_connector.errors import ConnectorError, Remedy, remedy_of, stops_run

R, P, D = Remedy.RETRY, Remedy.PERSON, Remedy.DEFER
EXPECTED: dict[str, tuple[Remedy, bool]] = {
    "ml_connector.errors.ConnectorError": (R, False),
    "ml_connector.credentials.keys.KeyConfigError": (P, False),
    "ml_connector.credentials.oauth.TokenRejected": (P, True),
    "ml_connector.credentials.vault.VaultError": (P, False),
    "ml_connector.dag.factory.MappingNotFound": (P, False),
    "ml_connector.dag.context.InvalidRunParams": (P, False),
    "ml_connector.fields.FieldDefinitionError": (P, False),
    "ml_connector.hooks.pipedrive_config.InvalidPipedriveConnection": (P, False),
    "ml_connector.hooks.workday_config.InvalidWorkdayConnection": (P, False),
    "ml_connector.hooks.workday_errors.WorkdayValidationError": (P, False),
    "ml_connector.hooks.workday_errors.UnreadablePage": (P, False),
    "ml_connector.hooks.workday_errors.InconsistentPage": (P, False),
    "ml_connector.hooks.workday_errors.ResultSetChanged": (R, False),
    "ml_connector.audit.summary.RunIncomplete": (P, False),
    "ml_connector.alerts.notifiers.AlertDeliveryFailed": (R, False),
    "ml_connector.hooks.workday_xml.UnsafeXml": (P, False),
    "ml_connector.http.errors.ApiError": (P, False),
    "ml_connector.http.errors.BudgetExhausted": (D, True),
    "ml_connector.http.errors.CredentialRejected": (P, True),
    "ml_connector.http.errors.EdgeBlocked": (P, True),
    "ml_connector.http.errors.OutcomeUnknown": (R, False),
    "ml_connector.http.errors.RetriesExhausted": (R, False),
    "ml_connector.http.errors.TransientError": (R, False),
    "ml_connector.staging.locks.LockTimeout": (R, False),
    "ml_connector.mapping.MappingError": (P, False),
    "ml_connector.load.lease.LeaseBusy": (R, False),
    "ml_connector.load.lease.LeaseLost": (R, True),
    "ml_connector.load.lease.LeaseUnsupported": (P, False),
}
# Raised and caught inside one module, never seen by a caller.
PRIVATE = {"ml_connector.mapping._RuleViolations"}


def product_error_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(ml_connector.__path__, "ml_connector."):
        if info.name.startswith(("ml_connector.sandbox", "ml_connector.bench")):
            continue  # the sandbox and the benchmark are not the product
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == info.name:
                found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return found


def test_every_error_class_is_listed_with_its_decision() -> None:
    classes = product_error_classes()
    assert set(classes) - PRIVATE == set(EXPECTED)
    for name, (remedy, stops) in EXPECTED.items():
        cls = classes[name]
        assert issubclass(cls, ConnectorError), name
        assert (cls.remedy, cls.stops_run) == (remedy, stops), name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_retry_policy_and_the_executor_follow_the_class(name: str) -> None:
    cls = product_error_classes()[name]
    exc = cls.__new__(cls)
    decision = RETRY_POLICY.evaluate(exc, try_number=1, max_tries=4)
    assert decision.action.value == ("fail" if EXPECTED[name][0] is Remedy.PERSON else "default")
    assert remedy_of(exc) is EXPECTED[name][0] and stops_run(exc) is EXPECTED[name][1]


def test_an_error_that_is_not_the_product_s_own_is_retried() -> None:
    assert remedy_of(ConnectionResetError()) is Remedy.RETRY and not stops_run(ValueError())
    assert RETRY_POLICY.evaluate(RuntimeError("x"), try_number=1, max_tries=4).action.value == "default"
