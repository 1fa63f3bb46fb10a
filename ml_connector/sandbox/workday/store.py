"""The sandbox tenant's store: every version of every record, stamped with when it was written.

Workday answers "as of" an entry moment (``As_Of_Entry_DateTime``): a client that pins it sees the
same result set on every page although the tenant keeps changing. Keeping all versions makes that
exact; a snapshot is one pass over the records (the newest version of most records is already old
enough), and pinned snapshots are cached because a paging run asks for the same one again and again.

Timestamps are UTC at millisecond precision, the precision Workday echoes, so a client that pins the
echoed ``As_Of_Entry_DateTime`` gets exactly the snapshot it started with.
"""

from __future__ import annotations

import random
import threading
from bisect import bisect_right
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, Field

from ml_connector.sandbox.config import WorktagTypes
from ml_connector.sandbox.workday.data import Counters, Factory, TenantData, entity_domain, generate
from ml_connector.sandbox.workday.records import Contact, Customer, Reference, Supplier

_SNAPSHOT_CACHE = 16
_TICK = timedelta(milliseconds=1)


class _HasReference(Protocol):
    @property
    def reference(self) -> Reference: ...


R = TypeVar("R", bound=_HasReference)


def now_ms() -> datetime:
    """Real UTC time, truncated to milliseconds."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@dataclass(frozen=True)
class Version(Generic[R]):
    """One state of a record: when it entered the tenant, and the business update time it carries."""

    entered: datetime
    updated: datetime
    record: R


class _Table(Generic[R]):
    """All versions of one record kind, in creation order, with a lookup by any reference ID."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.versions: dict[str, list[Version[R]]] = {}
        self.by_id: dict[tuple[str, str], str] = {}
        self._cache: OrderedDict[datetime, list[Version[R]]] = OrderedDict()

    def put(self, key: str, version: Version[R]) -> None:
        history = self.versions.get(key)
        if history is None:
            self.order.append(key)
            self.versions[key] = [version]
            ref = version.record.reference
            self.by_id[("WID", ref.wid)] = key
            for id_type, value in ref.ids:
                self.by_id[(id_type, value)] = key
        else:
            history.append(version)
        # A cached snapshot stays right unless it was taken as of a moment at or after this write.
        for as_of in [t for t in self._cache if t >= version.entered]:
            del self._cache[as_of]

    def latest(self, key: str) -> R:
        return self.versions[key][-1].record

    def snapshot(self, as_of: datetime) -> list[Version[R]]:
        """The newest version of each record entered at or before ``as_of``; O(records)."""
        cached = self._cache.get(as_of)
        if cached is not None:
            self._cache.move_to_end(as_of)
            return cached
        result: list[Version[R]] = []
        for key in self.order:
            history = self.versions[key]
            last = history[-1]
            if last.entered <= as_of:
                result.append(last)
            elif history[0].entered <= as_of:
                result.append(history[bisect_right(history, as_of, key=lambda v: v.entered) - 1])
        self._cache[as_of] = result
        if len(self._cache) > _SNAPSHOT_CACHE:
            self._cache.popitem(last=False)
        return result

    def updated_within(self, key: str, start: datetime | None, end: datetime | None, as_of: datetime) -> bool:
        """Whether any version visible as of ``as_of`` was updated in ``[start, end)`` (a transaction-log test)."""
        return any(
            v.entered <= as_of and (start is None or v.updated >= start) and (end is None or v.updated < end)
            for v in self.versions[key]
        )


def _key(record: _HasReference) -> str:
    return record.reference.ids[0][1]


def _is_active(record: Customer | Supplier) -> bool:
    return record.status.ids[0][1] == "ACTIVE"


class MutationSpec(BaseModel):
    """Body of ``POST /_sandbox/workday/mutate``: how many records of each kind to change."""

    create_customers: int = Field(default=0, ge=0, le=10_000)
    update_customers: int = Field(default=0, ge=0, le=10_000)
    deactivate_customers: int = Field(default=0, ge=0, le=10_000)
    create_suppliers: int = Field(default=0, ge=0, le=10_000)
    update_suppliers: int = Field(default=0, ge=0, le=10_000)
    deactivate_suppliers: int = Field(default=0, ge=0, le=10_000)
    update_contacts: int = Field(default=0, ge=0, le=10_000)
    # Contacts whose primary email becomes malformed, as a legacy import can leave behind: for
    # testing that one bad record is rejected while the rest sync.
    corrupt_contact_emails: int = Field(default=0, ge=0, le=10_000)
    # Customers whose name holds a control character, written as a character reference XML 1.0 forbids:
    # the SOAP page carrying one is not well-formed (REST and RaaS send it as JSON, where it is valid).
    unparseable_customers: int = Field(default=0, ge=0, le=10_000)
    # Customers, suppliers and contacts whose names gain characters of every class a real tenant holds
    # (combining marks, right-to-left script, emoji, CJK, quotes, XML-special characters, padding, a name
    # of exactly 255 or of more than 255 characters, a blank name): see ``data.UNUSUAL_NAME_CLASSES``.
    unusual_customer_names: int = Field(default=0, ge=0, le=10_000)
    unusual_supplier_names: int = Field(default=0, ge=0, le=10_000)
    unusual_contact_names: int = Field(default=0, ge=0, le=10_000)
    # Change only these Workday IDs (any kind): a test that follows one record through its history.
    only: list[str] = Field(default_factory=list, max_length=10_000)
    seed: int | None = None


class WorkdayStore:
    """The tenant: seeded book plus live changes; thread-safe; ``reset()`` restores the seed."""

    def __init__(
        self, seed: int, customers: int, suppliers: int, worktag_types: WorktagTypes | None = None
    ) -> None:
        self.seed = seed
        self._initial: TenantData = generate(seed, customers, suppliers, worktag_types)
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        data = self._initial
        with self._lock:
            self.catalog = data.catalog
            self._counters: Counters = data.counters.copy()
            self._mutations = 0
            self._last_write = max(data.updated.values(), default=datetime(2000, 1, 1, tzinfo=UTC))
            self._last_read = self._last_write
            self.customers_table: _Table[Customer] = _Table()
            self.suppliers_table: _Table[Supplier] = _Table()
            self.contacts_table: _Table[Contact] = _Table()
            self._windows: OrderedDict[
                tuple[datetime, datetime | None, datetime | None], list[Version[Supplier]]
            ]
            self._windows = OrderedDict()
            for table, records in (
                (self.customers_table, data.customers),
                (self.suppliers_table, data.suppliers),
                (self.contacts_table, data.contacts),
            ):
                for record in records:
                    when = data.updated[_key(record)]
                    table.put(_key(record), Version(when, when, record))  # type: ignore[arg-type]

    # -- reads ------------------------------------------------------------------------------------
    def now(self) -> datetime:
        """The tenant clock (real time, ms precision): the default ``As_Of_Entry_DateTime``.

        Remembered, so a write in the same millisecond is stamped after it and stays out of that snapshot.
        """
        with self._lock:
            self._last_read = max(self._last_read, self._last_write, now_ms())
            return self._last_read

    def customers(self, as_of: datetime) -> list[Version[Customer]]:
        with self._lock:
            return self.customers_table.snapshot(as_of)

    def contacts(self, as_of: datetime) -> list[Version[Contact]]:
        with self._lock:
            return self.contacts_table.snapshot(as_of)

    def suppliers(
        self,
        as_of: datetime,
        updated_from: datetime | None = None,
        updated_to: datetime | None = None,
    ) -> list[Version[Supplier]]:
        """Suppliers as of ``as_of``; with a window, those with any update in ``[from, to)``.

        A windowed selection is a pass over every supplier's history, and a paging client asks for the same
        one on every page: it is cached like a snapshot (until the next write), or a large tenant's pages
        would cost the server time in proportion to the tenant.
        """
        with self._lock:
            rows = self.suppliers_table.snapshot(as_of)
            if updated_from is None and updated_to is None:
                return rows
            window = (as_of, updated_from, updated_to)
            cached = self._windows.get(window)
            if cached is not None:
                self._windows.move_to_end(window)
                return cached
            table = self.suppliers_table
            result = [
                v for v in rows if table.updated_within(_key(v.record), updated_from, updated_to, as_of)
            ]
            self._windows[window] = result
            if len(self._windows) > _SNAPSHOT_CACHE:
                self._windows.popitem(last=False)
            return result

    def find(self, kind: str, id_type: str, value: str, as_of: datetime) -> Version[Any] | None:
        """The version as of ``as_of`` of the record a reference ID names (``kind``: customer/supplier/contact)."""
        table: _Table[Any] = self._table(kind)
        with self._lock:
            key = table.by_id.get((id_type, value))
            if key is None:
                return None
            history = table.versions[key]
            i = bisect_right(history, as_of, key=lambda v: v.entered)
            return history[i - 1] if i else None

    def _table(self, kind: str) -> _Table[Any]:
        tables: dict[str, _Table[Any]] = {
            "customer": self.customers_table,
            "supplier": self.suppliers_table,
            "contact": self.contacts_table,
        }
        return tables[kind]

    def summary(self) -> dict[str, Any]:
        with self._lock:
            customers = [self.customers_table.latest(k) for k in self.customers_table.order]
            suppliers = [self.suppliers_table.latest(k) for k in self.suppliers_table.order]
            n_versions = sum(
                len(h)
                for t in (self.customers_table, self.suppliers_table, self.contacts_table)
                for h in t.versions.values()
            )
            active_c = sum(map(_is_active, customers))
            active_s = sum(map(_is_active, suppliers))
            return {
                "customers": {
                    "total": len(customers),
                    "active": active_c,
                    "inactive": len(customers) - active_c,
                },
                "suppliers": {
                    "total": len(suppliers),
                    "active": active_s,
                    "inactive": len(suppliers) - active_s,
                },
                "contacts": {"total": len(self.contacts_table.order)},
                "both_customer_and_supplier": sum(1 for c in customers if c.supplier_id),
                "versions": n_versions,
                "last_write": self._last_write.isoformat(),
            }

    # -- writes -----------------------------------------------------------------------------------
    def _write_time(self) -> datetime:
        """Real time, but always after the previous write so snapshots never tie."""
        when = max(now_ms(), self._last_write + _TICK, self._last_read + _TICK)
        self._last_write = when
        return when

    def mutate(self, spec: MutationSpec) -> dict[str, Any]:
        """Apply ``spec`` deterministically (per seed and mutation number); return the affected IDs.

        Updates and deactivations pick from the records that existed before this mutation; only the
        timestamps (write time, address ``Last_Modified``) come from the real clock.
        """
        with self._lock:
            self._mutations += 1
            self._windows.clear()  # a write may enter any cached window
            salt = spec.seed if spec.seed is not None else self._mutations
            rng = random.Random(f"workday-mutation:{self.seed}:{salt}")
            factory = Factory(rng, self.catalog, self._counters)
            when = self._write_time()
            out: dict[str, Any] = {"at": when.isoformat().replace("+00:00", "Z")}
            created_contacts: list[str] = []

            def write(table: _Table[Any], record: Any) -> str:
                key = _key(record)
                table.put(key, Version(when, when, record))
                return key

            def pick(table: _Table[Any], n: int, active_only: bool) -> list[str]:
                keys = [
                    k
                    for k in table.order
                    if (not spec.only or k in spec.only) and (not active_only or _is_active(table.latest(k)))
                ]
                return [keys[i] for i in sorted(rng.sample(range(len(keys)), min(n, len(keys))))]

            out["updated_customers"] = [
                write(self.customers_table, factory.changed_customer(self.customers_table.latest(k)))
                for k in pick(self.customers_table, spec.update_customers, active_only=False)
            ]
            out["deactivated_customers"] = [
                write(self.customers_table, factory.deactivated(self.customers_table.latest(k)))
                for k in pick(self.customers_table, spec.deactivate_customers, active_only=True)
            ]
            out["unparseable_customers"] = [
                write(self.customers_table, factory.unparseable_customer(self.customers_table.latest(k)))
                for k in pick(self.customers_table, spec.unparseable_customers, active_only=False)
            ]
            out["updated_suppliers"] = [
                write(self.suppliers_table, factory.changed_supplier(self.suppliers_table.latest(k)))
                for k in pick(self.suppliers_table, spec.update_suppliers, active_only=False)
            ]
            out["deactivated_suppliers"] = [
                write(self.suppliers_table, factory.deactivated(self.suppliers_table.latest(k)))
                for k in pick(self.suppliers_table, spec.deactivate_suppliers, active_only=True)
            ]
            out["updated_contacts"] = []
            for k in pick(self.contacts_table, spec.update_contacts, active_only=False):
                contact = self.contacts_table.latest(k)
                owner = self._owner_entity(contact)
                domain = entity_domain(owner.entity) if owner else "example.com"
                out["updated_contacts"].append(
                    write(self.contacts_table, factory.changed_contact(contact, domain))
                )
            out["corrupted_contacts"] = [
                write(self.contacts_table, factory.corrupted_contact(self.contacts_table.latest(k)))
                for k in pick(self.contacts_table, spec.corrupt_contact_emails, active_only=False)
            ]
            out["unusual_customer_names"] = [
                write(self.customers_table, factory.unusual_company(self.customers_table.latest(k)))
                for k in pick(self.customers_table, spec.unusual_customer_names, active_only=False)
            ]
            out["unusual_supplier_names"] = [
                write(self.suppliers_table, factory.unusual_company(self.suppliers_table.latest(k)))
                for k in pick(self.suppliers_table, spec.unusual_supplier_names, active_only=False)
            ]
            out["unusual_contact_names"] = [
                write(self.contacts_table, factory.unusual_contact(self.contacts_table.latest(k)))
                for k in pick(self.contacts_table, spec.unusual_contact_names, active_only=False)
            ]
            out["created_customers"] = []
            for _ in range(spec.create_customers):
                customer = factory.customer(when)
                out["created_customers"].append(write(self.customers_table, customer))
                country_code = customer.entity.contact.addresses[0].country_code
                for contact in factory.contacts_for(
                    country_code,
                    entity_domain(customer.entity),
                    customer_id=customer.customer_id,
                    parent_wid=customer.reference.wid,
                ):
                    created_contacts.append(write(self.contacts_table, contact))
            out["created_suppliers"] = []
            for _ in range(spec.create_suppliers):
                supplier, country, _industry = factory.supplier(when)
                out["created_suppliers"].append(write(self.suppliers_table, supplier))
                for contact in factory.contacts_for(
                    country.alpha2,
                    entity_domain(supplier.entity),
                    supplier_id=supplier.supplier_id,
                    parent_wid=supplier.reference.wid,
                ):
                    created_contacts.append(write(self.contacts_table, contact))
            out["created_contacts"] = created_contacts
            return out

    def _owner_entity(self, contact: Contact) -> Customer | Supplier | None:
        if contact.customer_id:
            key = self.customers_table.by_id.get(("Customer_ID", contact.customer_id))
            return self.customers_table.latest(key) if key else None
        key = self.suppliers_table.by_id.get(("Supplier_ID", contact.supplier_id or ""))
        return self.suppliers_table.latest(key) if key else None
