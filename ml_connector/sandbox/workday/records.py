"""The Workday sandbox's own data model: what a tenant stores, before any API shapes it.

The SOAP, REST and RaaS renderers all read these records, so the three APIs always agree on a
tenant's data. Reference IDs follow Workday's ID types (``Customer_ID``, ``Supplier_ID``,
``Business_Entity_Contact_ID``, ``ISO_3166-1_Alpha-2_Code`` ...); WIDs are 32 lowercase hex chars.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from ml_connector.sandbox.config import WorktagRole


@dataclass(frozen=True)
class Reference:
    """A ``*_Reference``: one WID plus business IDs, and the descriptor Workday shows for it."""

    wid: str
    ids: tuple[tuple[str, str], ...]  # (ID type, value), e.g. (("Customer_Category_ID", "CORPORATE"),)
    descriptor: str


@dataclass(frozen=True)
class Usage:
    type_id: str = "BUSINESS"  # Communication_Usage_Type_ID
    primary: bool = False
    public: bool = True


@dataclass(frozen=True)
class Address:
    address_id: str
    lines: tuple[str, ...]
    municipality: str
    country_code: str  # ISO 3166-1 alpha-2
    region_code: str | None  # ISO 3166-2, e.g. "DE-BY"
    region_name: str | None
    postal_code: str | None
    usage: Usage
    effective_date: date
    last_modified: datetime
    formatted: str


@dataclass(frozen=True)
class Phone:
    phone_id: str
    country_alpha3: str
    international_code: str
    area_code: str
    number: str
    extension: str | None
    device_type: str  # Phone_Device_Type_ID: Landline, Mobile, Fax
    usage: Usage
    formatted: str
    e164: str


@dataclass(frozen=True)
class Email:
    email_id: str
    address: str
    usage: Usage


@dataclass(frozen=True)
class WebAddress:
    web_id: str
    url: str
    usage: Usage


@dataclass(frozen=True)
class ContactData:
    addresses: tuple[Address, ...] = ()
    phones: tuple[Phone, ...] = ()
    emails: tuple[Email, ...] = ()
    web: tuple[WebAddress, ...] = ()


@dataclass(frozen=True)
class Worktag:
    """One ``Related_Worktags_by_Type_Data`` entry: a worktag type and its default value.

    ``role`` is what the value means to the sandbox (industry, segment, region), whatever the tenant
    named the type, so a report column can pick its worktag by meaning."""

    worktag_type: Reference  # Accounting_Worktag_Type_ID: "INDUSTRY" by default, "CUSTOM_WORKTAG_1" ...
    value: Reference
    role: WorktagRole | None = None  # None: a worktag no report column picks


@dataclass(frozen=True)
class BusinessEntity:
    """Name and contact data shared by a customer and a supplier that are the same company."""

    name: str
    external_entity_id: str | None
    tax_id: str | None
    contact: ContactData


@dataclass(frozen=True)
class Customer:
    reference: Reference  # WID, Customer_ID, Customer_Reference_ID
    customer_id: str
    customer_reference_id: str
    entity: BusinessEntity
    category: Reference  # Customer_Category_ID
    payment_terms: Reference  # Payment_Terms_ID
    currency: Reference  # Currency_ID
    credit_limit: float | None
    status: Reference  # Business_Entity_Status_Value_ID: ACTIVE / INACTIVE
    worktags: tuple[Worktag, ...]
    supplier_id: str | None = None  # set when the same company is also a supplier
    groups: tuple[Reference, ...] = ()


@dataclass(frozen=True)
class Supplier:
    reference: Reference  # WID, Supplier_ID, Supplier_Reference_ID
    supplier_id: str
    supplier_reference_id: str
    entity: BusinessEntity
    category: Reference  # Supplier_Category_ID
    groups: tuple[Reference, ...]
    payment_terms: Reference
    currency: Reference
    status: Reference  # Business_Entity_Status_Value_ID: ACTIVE / INACTIVE
    approval_status: Reference  # Document_Status_ID: APPROVED
    worktags: tuple[Worktag, ...]
    customer_id: str | None = None  # set when the same company is also a customer


@dataclass(frozen=True)
class PersonName:
    first: str
    last: str
    middle: str | None = None
    prefix: str | None = None  # e.g. "Dr."
    country_code: str = "US"


@dataclass(frozen=True)
class Contact:
    """A ``Business_Entity_Contact`` attached to one customer (billable entity) or one supplier."""

    reference: Reference  # WID, Business_Entity_Contact_ID
    contact_id: str
    name: PersonName
    contact: ContactData
    customer_id: str | None = None
    supplier_id: str | None = None
    parent_wid: str | None = None  # the customer's or supplier's WID, which its reference carries too
    primary_bill_to: bool = False
    default_bill_to: bool = False
    external_ids: tuple[str, ...] = field(default_factory=tuple)
