"""Typed records read from the source systems."""

from ml_connector.models.workday import (
    WorkdayAddress,
    WorkdayContact,
    WorkdayCustomer,
    WorkdayEmail,
    WorkdayPhone,
    WorkdayRef,
    WorkdaySupplier,
)

__all__ = [
    "WorkdayAddress",
    "WorkdayContact",
    "WorkdayCustomer",
    "WorkdayEmail",
    "WorkdayPhone",
    "WorkdayRef",
    "WorkdaySupplier",
]
