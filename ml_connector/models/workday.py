"""Typed Workday records as a sync sees them, whichever API (SOAP, REST, RaaS) they were read from.

Every field that a tenant's WSDL version, a REST resource or a report may lack is optional with an
empty default, so a missing element never fails a read; ``source`` says which API filled the record.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

Source = Literal["soap", "rest", "raas"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WorkdayRef(_Frozen):
    """A Workday reference: its business ID (``Customer_Category_ID=SMB``), descriptor and WID."""

    id: str | None = None
    descriptor: str | None = None
    wid: str | None = None

    @property
    def label(self) -> str | None:
        """What a person would read: the descriptor, else the ID."""
        return self.descriptor or self.id


class WorkdayAddress(_Frozen):
    lines: tuple[str, ...] = ()
    city: str | None = None
    region_code: str | None = None  # ISO 3166-2, e.g. "DE-BY"
    region: str | None = None
    postal_code: str | None = None
    country_code: str | None = None  # ISO 3166-1 alpha-2
    formatted: str | None = None
    primary: bool = False
    usage: str | None = None  # Communication_Usage_Type_ID, e.g. "BUSINESS"


class WorkdayEmail(_Frozen):
    value: str
    primary: bool = False
    usage: str | None = None


class WorkdayPhone(_Frozen):
    value: str  # Workday's formatted number, e.g. "+33 (1) 702-8755"
    primary: bool = False
    usage: str | None = None
    device_type: str | None = None  # Phone_Device_Type_ID: Landline, Mobile, Fax
    e164: str | None = None


class _BusinessEntity(_Frozen):
    """What customers and suppliers share; ``workday_id`` is the key a sync matches records on."""

    workday_id: str  # Customer_ID / Supplier_ID (the WID where the API exposes nothing else: REST)
    wid: str | None = None
    reference_id: str | None = None  # Customer_Reference_ID / Supplier_Reference_ID
    name: str
    category: WorkdayRef | None = None
    groups: tuple[WorkdayRef, ...] = ()
    payment_terms: WorkdayRef | None = None
    currency: str | None = None  # ISO 4217
    status: str | None = None  # ACTIVE / INACTIVE (None: the source does not expose it)
    worktags: dict[str, str] = Field(default_factory=dict)  # worktag type ID -> value (descriptor or ID)
    worktag_ids: dict[str, str] = Field(default_factory=dict)  # worktag type ID -> value ID, when known
    addresses: tuple[WorkdayAddress, ...] = ()
    emails: tuple[WorkdayEmail, ...] = ()
    phones: tuple[WorkdayPhone, ...] = ()
    web: tuple[str, ...] = ()
    tax_id: str | None = None
    updated_at: datetime | None = None  # only reports expose a last-updated time
    source: Source
    as_of: datetime  # the moment the read was pinned to (SOAP) or made (REST, RaaS)

    @property
    def active(self) -> bool | None:
        return None if self.status is None else self.status == "ACTIVE"

    @property
    def primary_address(self) -> WorkdayAddress | None:
        return _primary(self.addresses)

    @property
    def primary_email(self) -> WorkdayEmail | None:
        return _primary(self.emails)

    @property
    def primary_phone(self) -> WorkdayPhone | None:
        return _primary(self.phones)


class WorkdayCustomer(_BusinessEntity):
    credit_limit: float | None = None
    supplier_id: str | None = None  # the same company as a supplier


class WorkdaySupplier(_BusinessEntity):
    approval_status: str | None = None  # Document_Status_ID, e.g. APPROVED
    customer_id: str | None = None  # the same company as a customer


class WorkdayContact(_Frozen):
    """A business entity contact; it belongs to one customer or one supplier."""

    contact_id: str
    wid: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    formatted_name: str | None = None
    emails: tuple[WorkdayEmail, ...] = ()
    phones: tuple[WorkdayPhone, ...] = ()
    customer_id: str | None = None
    supplier_id: str | None = None
    parent_wid: str | None = None  # when the parent is referenced by WID only
    primary_bill_to: bool = False
    source: Source = "soap"
    as_of: datetime

    @property
    def name(self) -> str:
        joined = " ".join(p for p in (self.first_name, self.last_name) if p)
        return self.formatted_name or joined or self.contact_id

    @property
    def primary_email(self) -> WorkdayEmail | None:
        return _primary(self.emails)

    @property
    def primary_phone(self) -> WorkdayPhone | None:
        return _primary(self.phones)


_T = TypeVar("_T", WorkdayAddress, WorkdayEmail, WorkdayPhone)


def _primary(items: tuple[_T, ...]) -> _T | None:
    return next((i for i in items if i.primary), items[0] if items else None)
