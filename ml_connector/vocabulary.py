"""The words of the product, defined once.

- An **entity** is what a DAG syncs from Workday: ``customers`` or ``suppliers`` (one DAG, one mapping
  file each).
- A **record kind** is what it becomes in Pipedrive: an ``organization`` (the customer or supplier) or a
  ``person`` (one of its contacts).
- A **mode** is what a run reads and compares: ``incremental``, ``full_refresh`` or ``reconcile``.

:data:`ENTITIES` holds what differs between the two entities, so the code asks the table instead of
branching on the entity's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Entity = Literal["customers", "suppliers"]
RecordKind = Literal["organization", "person"]
Mode = Literal["incremental", "full_refresh", "reconcile"]

RECORD_KINDS: tuple[RecordKind, ...] = ("organization", "person")
MODES: tuple[Mode, ...] = ("incremental", "full_refresh", "reconcile")
PLURAL: dict[RecordKind, str] = {"organization": "organizations", "person": "persons"}

ContactOwnership = Literal["own", "by_parent_wid", "other"]


@dataclass(frozen=True)
class EntitySpec:
    """What one entity is in Workday: its noun, the hook's reader, and how its contacts point at it."""

    name: Entity
    noun: str  # "customer": one record, in messages
    reader: str  # the WorkdayHook method that yields its pages
    contact_parent: str  # the contact attribute holding this entity's ID
    # Suppliers that are also customers join the customer's organization: their key is looked up in the
    # aliases the suppliers transform keeps, not taken from the contact.
    keys_by_alias: bool
    window_note: str  # how Workday narrows a read of this entity to a window, for the DAG's docs

    def contact_ownership(self, customer_id: str | None, supplier_id: str | None) -> ContactOwnership:
        """Whose contact this is: this entity's (it carries this entity's ID; a contact with both IDs
        belongs to both syncs), the sync's that read its parent by WID (no ID at all), or another's."""
        ids = {"customer_id": (customer_id or "").strip(), "supplier_id": (supplier_id or "").strip()}
        if ids[self.contact_parent]:
            return "own"
        return "by_parent_wid" if not any(ids.values()) else "other"


ENTITIES: dict[Entity, EntitySpec] = {
    "customers": EntitySpec(
        "customers",
        "customer",
        "iter_customers",
        "customer_id",
        keys_by_alias=False,
        window_note="Workday `Get_Customers` has no updated-since filter: customers are scanned in full and "
        "only records whose content changed are written.",
    ),
    "suppliers": EntitySpec(
        "suppliers",
        "supplier",
        "iter_suppliers",
        "supplier_id",
        keys_by_alias=True,
        window_note="`Get_Suppliers` is filtered by `Updated_From_Date`/`Updated_To_Date`.",
    ),
}
