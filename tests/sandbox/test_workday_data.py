"""The Workday sandbox's seeded data and its versioned store, without HTTP."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from ml_connector.sandbox.workday.data import HISTORY, TENANT_CLOCK_START, TenantData, generate
from ml_connector.sandbox.workday.store import MutationSpec, WorkdayStore

WID = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture(scope="module")
def book() -> TenantData:
    return generate(11, 1000, 500)


def test_same_seed_gives_identical_data_and_another_seed_does_not() -> None:
    assert repr(generate(5, 80, 40)) == repr(generate(5, 80, 40))
    assert repr(generate(5, 80, 40)) != repr(generate(6, 80, 40))


def test_full_size_book_generates() -> None:
    """How long it takes is a ``make bench`` figure."""
    data = generate(42, 5000, 2500)
    assert (len(data.customers), len(data.suppliers)) == (5000, 2500)


def test_ids_and_wids_have_workday_shapes_and_are_unique(book: TenantData) -> None:
    records = [*book.customers, *book.suppliers, *book.contacts]
    wids = [r.reference.wid for r in records]
    assert all(WID.match(w) for w in wids)
    assert len(set(wids)) == len(wids)
    assert all(re.match(r"^CUS-\d{6}$", c.customer_id) for c in book.customers)
    assert all(re.match(r"^SUP-\d{6}$", s.supplier_id) for s in book.suppliers)
    assert all(re.match(r"^BEC-\d{6}$", c.contact_id) for c in book.contacts)
    assert book.customers[0].reference.ids[0] == ("Customer_ID", "CUS-000001")


def test_shares_of_inactive_and_shared_entities_are_realistic(book: TenantData) -> None:
    inactive = sum(c.status.ids[0][1] == "INACTIVE" for c in book.customers) / len(book.customers)
    assert 0.04 < inactive < 0.13
    shared = [c for c in book.customers if c.supplier_id]
    assert len(shared) == 50  # 10% of min(customers, suppliers)
    suppliers = {s.supplier_id: s for s in book.suppliers}
    for customer in shared:
        supplier = suppliers[customer.supplier_id or ""]
        assert supplier.customer_id == customer.customer_id
        assert supplier.entity == customer.entity


def test_contacts_attach_to_existing_records_with_ascii_emails(book: TenantData) -> None:
    customers = {c.customer_id for c in book.customers}
    suppliers = {s.supplier_id for s in book.suppliers}
    for contact in book.contacts:
        assert (contact.customer_id in customers) != (contact.supplier_id in suppliers)
        for email in contact.contact.emails:
            assert email.address.isascii() and "@" in email.address
    assert any(not c.contact.emails for c in book.contacts), "some contacts have no e-mail"
    names = " ".join(f"{c.name.first} {c.name.last}" for c in book.contacts)
    assert re.search(r"[À-ž]", names), "accented names are present"


def test_awkward_but_legal_records_exist(book: TenantData) -> None:
    addresses = [a for c in book.customers for a in c.entity.contact.addresses]
    assert any(a.region_code is None for a in addresses)
    assert all(a.region_code for a in addresses if a.country_code == "US")
    assert max(len(c.entity.name) for c in book.customers) > 100
    assert len({a.country_code for a in addresses}) >= 15
    for customer in book.customers:
        primaries = [e for e in customer.entity.contact.emails if e.usage.primary]
        assert len(primaries) <= 1


def test_update_times_fall_in_the_history_window(book: TenantData) -> None:
    times = list(book.updated.values())
    assert all(TENANT_CLOCK_START - HISTORY <= t < TENANT_CLOCK_START for t in times)
    assert max(times) - min(times) > timedelta(days=80)


def test_pinned_snapshot_ignores_later_writes() -> None:
    store = WorkdayStore(3, 40, 20)
    before = store.now()
    result = store.mutate(MutationSpec(create_customers=2, update_customers=3, deactivate_customers=1))
    pinned = {v.record.customer_id: v.record for v in store.customers(before)}
    current = {v.record.customer_id: v.record for v in store.customers(store.now())}
    assert len(pinned) == 40 and len(current) == 42
    for customer_id in result["updated_customers"]:
        assert pinned[customer_id] != current[customer_id]
        assert pinned[customer_id].payment_terms != current[customer_id].payment_terms
    (deactivated,) = result["deactivated_customers"]
    assert current[deactivated].status.ids[0][1] == "INACTIVE"
    assert pinned[deactivated].status.ids[0][1] == "ACTIVE"


def test_mutations_are_deterministic_and_reset_restores_the_seed() -> None:
    spec = MutationSpec(create_suppliers=1, update_suppliers=2, update_contacts=2, create_customers=1)
    a, b = WorkdayStore(9, 30, 15), WorkdayStore(9, 30, 15)
    ra, rb = a.mutate(spec), b.mutate(spec)
    assert {k: v for k, v in ra.items() if k != "at"} == {k: v for k, v in rb.items() if k != "at"}

    def content(store: WorkdayStore) -> list[tuple[object, ...]]:
        rows = [v.record for v in store.suppliers(store.now())]
        return [
            (s.reference, s.payment_terms, s.entity.contact.emails, s.entity.contact.phones) for s in rows
        ]

    assert content(a) == content(b)
    a.reset()
    assert a.summary()["customers"]["total"] == 30
    assert a.summary()["versions"] == WorkdayStore(9, 30, 15).summary()["versions"]


def test_supplier_window_selects_updates_in_half_open_interval() -> None:
    store = WorkdayStore(4, 10, 60)
    everything = store.suppliers(store.now())
    pivot = sorted(v.updated for v in everything)[30]
    early = store.suppliers(store.now(), None, pivot)
    late = store.suppliers(store.now(), pivot, None)
    assert len(early) == 30 and len(late) == 30
    assert {v.record.supplier_id for v in early}.isdisjoint(v.record.supplier_id for v in late)


def test_a_supplier_window_asked_again_after_a_write_sees_the_write() -> None:
    store = WorkdayStore(4, 0, 30)
    as_of = store.now()
    window_start = sorted(v.updated for v in store.suppliers(as_of))[-1] + timedelta(milliseconds=1)
    assert store.suppliers(as_of, window_start, None) == []  # nothing updated since: also cached
    changed = store.mutate(MutationSpec(update_suppliers=2))["updated_suppliers"]
    assert store.suppliers(as_of, window_start, None) == []  # the pinned moment still sees none
    later = store.now()
    assert sorted(v.record.supplier_id for v in store.suppliers(later, window_start, None)) == sorted(changed)


def test_unusual_names_cover_every_class_and_stay_xml_text() -> None:
    """``unusual_*_names`` rename records with characters of every class a real tenant holds; every name
    is one XML 1.0 can carry (escaped as text and as an attribute, it parses back to the same string)."""
    from lxml import etree

    from ml_connector.sandbox.workday.data import UNUSUAL_NAME_CLASSES
    from ml_connector.sandbox.workday.soap_xml import _attr, _text

    store = WorkdayStore(5, 40, 20)
    before = {v.record.customer_id: v.record.entity.name for v in store.customers(store.now())}
    spec = MutationSpec(unusual_customer_names=40, unusual_supplier_names=20, unusual_contact_names=30)
    result = store.mutate(spec)
    assert len(result["unusual_customer_names"]) == 40 and len(result["unusual_supplier_names"]) == 20
    assert len(result["unusual_contact_names"]) == 30
    customers = [v.record for v in store.customers(store.now())]
    suppliers = [v.record for v in store.suppliers(store.now())]
    contacts = [v.record for v in store.contacts(store.now())]
    assert all(c.entity.name != before[c.customer_id] for c in customers)
    assert all(c.reference.descriptor == c.entity.name for c in customers)
    names = [r.entity.name for r in (*customers, *suppliers)]
    names += [n for c in contacts for n in (c.name.first, c.name.last)]
    for name in names:
        element = etree.fromstring(f'<n a="{_attr(name)}">{_text(name)}</n>'.encode())
        assert (element.text or "") == name
        assert element.get("a") == name
    blob = "".join(names)
    assert "\u0301" in blob  # combining marks
    assert any("\u0590" <= ch <= "\u06ff" for ch in blob)  # Hebrew or Arabic script
    assert any(ord(ch) > 0xFFFF for ch in blob)  # astral: emoji or CJK extension B
    assert any(ch in blob for ch in "<>&")
    assert any(len(n) > 255 for n in names) and any(len(n) == 255 for n in names)
    assert any(not n.strip() for n in names) and any(n != n.strip() for n in names if n.strip())
    assert len(UNUSUAL_NAME_CLASSES) == 10
    again = WorkdayStore(5, 40, 20)
    assert {k: v for k, v in again.mutate(spec).items() if k != "at"} == {
        k: v for k, v in result.items() if k != "at"
    }
    assert [v.record for v in again.customers(again.now())] == customers
