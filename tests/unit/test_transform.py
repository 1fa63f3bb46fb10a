"""The transform on hand-built Workday records: identity, roles, contact resolution, validation,
content hashes and deterministic output."""

from __future__ import annotations

import json
import logging
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from ml_connector.mapping import (
    ORGANIZATION_SOURCES,
    PERSON_SOURCES,
    SyncMapping,
    load_mapping,
    parse_mapping,
)
from ml_connector.models.workday import (
    WorkdayAddress,
    WorkdayContact,
    WorkdayCustomer,
    WorkdayEmail,
    WorkdayPhone,
    WorkdayRef,
    WorkdaySupplier,
)
from ml_connector.transform import TransformResult, content_hash, transform
from ml_connector.transform.views import format_address, organization_view, person_view

MAPPINGS = Path(__file__).resolve().parents[2] / "include" / "mappings"
AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
ADDRESS = WorkdayAddress(
    lines=("Hauptstraße 5",),
    city="München",
    region_code="DE-BY",
    region="Bayern",
    postal_code="80331",
    country_code="DE",
    formatted="Hauptstraße 5\n80331 München\nGermany",
    primary=True,
)


@pytest.fixture(scope="module")
def customers() -> SyncMapping:
    return load_mapping(MAPPINGS / "customers.yaml")


@pytest.fixture(scope="module")
def suppliers() -> SyncMapping:
    return load_mapping(MAPPINGS / "suppliers.yaml")


def customer(workday_id: str, **kw: Any) -> WorkdayCustomer:
    base: dict[str, Any] = {
        "workday_id": workday_id,
        "name": f"Company {workday_id}",
        "category": WorkdayRef(id="SMB", descriptor="Small and Medium Business"),
        "payment_terms": WorkdayRef(id="NET_30", descriptor="Net 30"),
        "currency": "EUR",
        "status": "ACTIVE",
        "worktags": {"INDUSTRY": "Software and Internet", "SEGMENT": "Enterprise", "REGION": "EMEA"},
        "addresses": (ADDRESS,),
        "emails": (WorkdayEmail(value="info@example.de", primary=True),),
        "tax_id": "DE123",
        "source": "soap",
        "as_of": AS_OF,
    }
    return WorkdayCustomer(**{**base, **kw})


def supplier(workday_id: str, **kw: Any) -> WorkdaySupplier:
    base: dict[str, Any] = {
        "workday_id": workday_id,
        "name": f"Supplier {workday_id}",
        "category": WorkdayRef(id="IT_SERVICES", descriptor="IT Services"),
        "payment_terms": WorkdayRef(id="NET_45", descriptor="Net 45"),
        "currency": "USD",
        "status": "ACTIVE",
        "addresses": (ADDRESS,),
        "source": "soap",
        "as_of": AS_OF,
    }
    return WorkdaySupplier(**{**base, **kw})


def contact(contact_id: str, **kw: Any) -> WorkdayContact:
    base: dict[str, Any] = {
        "contact_id": contact_id,
        "first_name": "Jörg",
        "last_name": "Müller",
        "emails": (WorkdayEmail(value=f"{contact_id.lower()}@example.de", primary=True),),
        "as_of": AS_OF,
    }
    return WorkdayContact(**{**base, **kw})


def org_table(*records: WorkdayCustomer | WorkdaySupplier) -> pa.Table:
    kinds = ["customer" if isinstance(r, WorkdayCustomer) else "supplier" for r in records]
    return pa.table(
        {
            "record_key": [r.workday_id for r in records],
            "payload": [r.model_dump_json() for r in records],
            "kind": kinds,
        }
    )


def contact_table(*records: WorkdayContact) -> pa.Table:
    return pa.table(
        {
            "record_key": [r.contact_id for r in records],
            "payload": [r.model_dump_json() for r in records],
            "kind": ["contact"] * len(records),
        }
    )


def run(
    mapping: SyncMapping,
    orgs: list[WorkdayCustomer] | list[WorkdaySupplier] | tuple[Any, ...] = (),
    contacts: list[WorkdayContact] | tuple[WorkdayContact, ...] = (),
    aliases: dict[str, str] | None = None,
) -> TransformResult:
    return transform(mapping, org_table(*orgs), contact_table(*contacts), aliases or {})


def rows(table: pa.Table) -> dict[str, dict[str, Any]]:
    out = {}
    for row in table.to_pylist():
        if "values" in row:
            row["values"] = json.loads(row["values"])
        out[row["key"]] = row
    return out


# -- organizations ----------------------------------------------------------------------------------------------
def test_customer_row_carries_every_mapped_field_as_labels(customers: SyncMapping) -> None:
    result = run(customers, [customer("CUS-000001")])
    row = rows(result.organizations)["CUS-000001"]
    assert result.organizations.schema.names == [
        "key",
        "name",
        "values",
        "content_hash",
        "active",
        "source_ids",
    ]
    assert (row["name"], row["active"], row["source_ids"]) == ("Company CUS-000001", True, "CUS-000001")
    assert row["values"] == {
        "name": "Company CUS-000001",
        "address": "Hauptstraße 5, 80331 München, Germany",
        "Workday ID": "CUS-000001",
        "Workday roles": ["Customer"],
        "Workday customer category": "Small and Medium Business",
        "Workday customer payment terms": "Net 30",
        "Workday customer currency": "EUR",
        "Workday region": "DE-BY",
        "Workday country": "DE",
        "Workday industry": "Software and Internet",
        "Workday segment": "Enterprise",
        "Workday customer status": "Active",
    }
    assert result.rejected.num_rows == 0 and result.org_aliases == {}


def test_dual_entity_gets_both_roles_and_one_key_from_either_sync(
    customers: SyncMapping, suppliers: SyncMapping
) -> None:
    from_customers = rows(run(customers, [customer("CUS-000017", supplier_id="SUP-000009")]).organizations)
    result = run(suppliers, [supplier("SUP-000009", customer_id="CUS-000017"), supplier("SUP-000010")])
    from_suppliers = rows(result.organizations)
    assert set(from_customers) == {"CUS-000017"} and set(from_suppliers) == {"CUS-000017", "SUP-000010"}
    for side in (from_customers, from_suppliers):
        assert side["CUS-000017"]["values"]["Workday roles"] == ["Customer", "Supplier"]
        assert side["CUS-000017"]["source_ids"] == "CUS-000017,SUP-000009"
    assert from_suppliers["CUS-000017"]["values"]["Workday ID"] == "CUS-000017"
    assert from_suppliers["CUS-000017"]["values"]["Workday supplier ID"] == "SUP-000009"
    assert from_suppliers["SUP-000010"]["values"]["Workday roles"] == ["Supplier"]
    assert from_suppliers["SUP-000010"]["source_ids"] == "SUP-000010"
    assert result.org_aliases == {"SUP-000009": "CUS-000017", "SUP-000010": "SUP-000010"}


def test_inactive_record_is_kept_with_active_false_and_status_inactive(customers: SyncMapping) -> None:
    row = rows(run(customers, [customer("CUS-000002", status="INACTIVE")]).organizations)["CUS-000002"]
    assert row["active"] is False and row["values"]["Workday customer status"] == "Inactive"


def test_unknown_status_leaves_the_record_active(customers: SyncMapping) -> None:
    row = rows(run(customers, [customer("CUS-000002", status=None, source="rest")]).organizations)[
        "CUS-000002"
    ]
    assert row["active"] is True and row["values"]["Workday customer status"] is None


def test_enum_values_take_the_options_spelling(customers: SyncMapping) -> None:
    record = customer("CUS-000003", payment_terms=WorkdayRef(id="NET_30", descriptor="net 30"))
    assert (
        rows(run(customers, [record]).organizations)["CUS-000003"]["values"]["Workday customer payment terms"]
        == "Net 30"
    )


def test_new_option_label_passes_when_the_mapping_lets_it_be_created(customers: SyncMapping) -> None:
    record = customer("CUS-000004", category=WorkdayRef(id="WHOLESALE", descriptor="Wholesale"))
    row = rows(run(customers, [record]).organizations)["CUS-000004"]
    assert row["values"]["Workday customer category"] == "Wholesale"


# -- addresses, emails, phones ----------------------------------------------------------------------------------
def test_address_is_the_primary_one_on_one_line() -> None:
    other = WorkdayAddress(lines=("Elsewhere 1",), city="Berlin", country_code="DE")
    assert organization_view(customer("C", addresses=(other, ADDRESS)))["primary_address"] == (
        "Hauptstraße 5, 80331 München, Germany"
    )
    plain = WorkdayAddress(
        lines=("5 Main Street", " Suite 2 "), city="Austin", postal_code="78701", country_code="US"
    )
    assert organization_view(customer("C", addresses=(plain, other)))["primary_address"] == (
        "5 Main Street, Suite 2, Austin, 78701, US"
    )
    assert format_address(WorkdayAddress(formatted="A\r\n\nB\n")) == "A, B"
    assert format_address(WorkdayAddress()) is None and format_address(None) is None


def test_emails_and_phones_put_the_primary_first_dedupe_and_label() -> None:
    record = contact(
        "BEC-000001",
        emails=(
            WorkdayEmail(value="z@example.de"),
            WorkdayEmail(value="Main@Example.de", primary=True),
            WorkdayEmail(value="a@example.de"),
            WorkdayEmail(value="main@example.de"),
        ),
        phones=(
            WorkdayPhone(value="+49 1", device_type="Landline"),
            WorkdayPhone(value="+49 2", device_type="Mobile", primary=True),
            WorkdayPhone(value="+49 3", device_type="Fax"),
        ),
    )
    view = person_view(record, "CUS-1")
    assert view["emails"] == [
        {"value": "Main@Example.de", "primary": True, "label": "work"},
        {"value": "a@example.de", "primary": False, "label": "work"},
        {"value": "z@example.de", "primary": False, "label": "work"},
    ]
    assert [(p["value"], p["primary"], p["label"]) for p in view["phones"]] == [
        ("+49 2", True, "mobile"),
        ("+49 1", False, "work"),
        ("+49 3", False, "work"),
    ]
    assert view["primary_email"] == "Main@Example.de"
    no_primary = person_view(
        contact("B", emails=(WorkdayEmail(value="b@x.de"), WorkdayEmail(value="a@x.de"))), None
    )
    assert [e["primary"] for e in no_primary["emails"]] == [True, False]
    assert no_primary["emails"][0]["value"] == "b@x.de"  # Workday's own rule: the first when none is primary


def test_views_offer_exactly_the_sources_the_mapping_knows() -> None:
    org = organization_view(customer("CUS-1"))
    assert {k for k in org if not k.startswith("worktags.")} == set(ORGANIZATION_SOURCES)
    assert {k for k in org if k.startswith("worktags.")} == {
        "worktags.INDUSTRY",
        "worktags.SEGMENT",
        "worktags.REGION",
    }
    assert set(organization_view(supplier("SUP-1"))) == set(ORGANIZATION_SOURCES)
    assert set(person_view(contact("BEC-1"), "CUS-1")) == set(PERSON_SOURCES)


# -- persons ----------------------------------------------------------------------------------------------------
def test_customer_contacts_attach_to_their_customer(customers: SyncMapping) -> None:
    result = run(
        customers,
        [customer("CUS-000001")],
        [contact("BEC-000001", customer_id="CUS-000001"), contact("BEC-000002", supplier_id="SUP-000001")],
    )
    persons = rows(result.persons)
    assert result.persons.schema.names == ["key", "org_key", "name", "values", "content_hash", "active"]
    assert set(persons) == {"BEC-000001"}  # the supplier's contact is the suppliers sync's business
    person = persons["BEC-000001"]
    assert (person["org_key"], person["name"], person["active"]) == ("CUS-000001", "Jörg Müller", True)
    assert person["values"] == {
        "name": "Jörg Müller",
        "first_name": "Jörg",
        "last_name": "Müller",
        "emails": [{"value": "bec-000001@example.de", "primary": True, "label": "work"}],
        "phones": [],
        "Workday contact ID": "BEC-000001",
    }
    assert result.rejected.num_rows == 0


def test_supplier_contacts_resolve_through_aliases_including_earlier_runs(suppliers: SyncMapping) -> None:
    result = run(
        suppliers,
        [supplier("SUP-000009", customer_id="CUS-000017"), supplier("SUP-000010")],
        [
            contact("BEC-000001", supplier_id="SUP-000009"),  # cross-linked: the customer's organization
            contact("BEC-000002", supplier_id="SUP-000010"),
            contact("BEC-000003", supplier_id="SUP-000003"),  # not extracted now, known from an earlier run
            contact("BEC-000004", supplier_id="SUP-000099"),  # never seen: an orphan
        ],
        aliases={"SUP-000003": "CUS-000005", "SUP-000010": "SUP-000010"},
    )
    persons = rows(result.persons)
    assert {k: p["org_key"] for k, p in persons.items()} == {
        "BEC-000001": "CUS-000017",
        "BEC-000002": "SUP-000010",
        "BEC-000003": "CUS-000005",
    }
    [orphan] = result.rejected.to_pylist()
    assert (orphan["entity"], orphan["key"], orphan["field"]) == ("person", "BEC-000004", "organization")
    assert "Person BEC-000004" in orphan["reason"] and "supplier SUP-000099" in orphan["reason"]
    assert "re-run" in orphan["reason"]
    assert result.org_aliases == {
        "SUP-000003": "CUS-000005",
        "SUP-000009": "CUS-000017",
        "SUP-000010": "SUP-000010",
    }


def test_contact_known_only_by_its_parents_wid_attaches_to_that_organization(customers: SyncMapping) -> None:
    result = run(
        customers,
        [customer("CUS-000001", wid="w1")],
        [contact("BEC-000001", parent_wid="w1"), contact("BEC-000002", parent_wid="unknown")],
    )
    assert {k: p["org_key"] for k, p in rows(result.persons).items()} == {"BEC-000001": "CUS-000001"}
    assert result.rejected.num_rows == 0


# -- rejections -------------------------------------------------------------------------------------------------
def test_bad_records_are_rejected_with_what_to_fix_while_good_ones_pass(customers: SyncMapping) -> None:
    result = run(
        customers,
        [customer("CUS-000001"), customer("CUS-000002", name="   "), customer("CUS-000003", name="x" * 256)],
        [
            contact("BEC-000001", customer_id="CUS-000001"),
            contact(
                "BEC-000002",
                customer_id="CUS-000001",
                emails=(WorkdayEmail(value="jorg@@example", primary=True),),
            ),
            contact("BEC-000003", customer_id="CUS-000001", first_name=None, last_name=" "),
        ],
    )
    assert set(rows(result.organizations)) == {"CUS-000001"}
    assert set(rows(result.persons)) == {"BEC-000001"}
    rejected = {(r["entity"], r["key"]): r for r in result.rejected.to_pylist()}
    assert list(rejected) == [
        ("organization", "CUS-000002"),
        ("organization", "CUS-000003"),
        ("person", "BEC-000002"),
        ("person", "BEC-000003"),
    ]
    blank = rejected["organization", "CUS-000002"]
    assert blank["field"] == "name" and blank["source_ids"] == "CUS-000002"
    assert blank["reason"].startswith("Organization CUS-000002 (customer CUS-000002):")
    assert "is empty; give the customer a name in Workday" in blank["reason"]
    long = rejected["organization", "CUS-000003"]
    assert (
        long["field"] == "name" and "256 characters long, over the limit of 255; shorten it" in long["reason"]
    )
    email = rejected["person", "BEC-000002"]
    assert email["field"] == "emails" and "malformed email address" in email["reason"]
    assert "jorg@@example" not in email["reason"]  # reasons go to the ledger: no personal data
    assert rejected["person", "BEC-000003"]["field"] == "name"


def test_unknown_option_is_rejected_when_creation_is_off(customers: SyncMapping) -> None:
    data = customers.model_dump(exclude_none=True)
    for spec in data["organization"]["fields"]:
        if spec["name"] == "Workday customer category":
            spec["create_missing_options"] = False
    mapping = parse_mapping(data)
    result = run(
        mapping,
        [customer("CUS-000001"), customer("CUS-000002", category=WorkdayRef(id="W", descriptor="Wholesale"))],
    )
    assert set(rows(result.organizations)) == {"CUS-000001"}
    [row] = result.rejected.to_pylist()
    assert (row["key"], row["field"]) == ("CUS-000002", "Workday customer category")
    assert "'Wholesale', which is not among the options" in row["reason"]
    assert "set create_missing_options: true" in row["reason"]


def test_one_rejection_row_per_record_lists_every_failing_field(customers: SyncMapping) -> None:
    bad = contact(
        "BEC-000009", customer_id="C", first_name=None, last_name=None, emails=(WorkdayEmail(value="x"),)
    )
    [row] = run(customers, [], [bad]).rejected.to_pylist()
    assert row["field"] == "name,emails"
    assert row["reason"].count("Person BEC-000009 (contact of customer C):") == 2


def test_unreadable_or_misfiled_payloads_are_rejected_without_stopping_the_run(
    customers: SyncMapping,
) -> None:
    good = customer("CUS-000001")
    table = pa.table(
        {
            "record_key": ["CUS-000001", "CUS-000002", "SUP-000001"],
            "payload": [
                good.model_dump_json(),
                '{"workday_id": "CUS-000002"}',
                supplier("SUP-000001").model_dump_json(),
            ],
            "kind": ["customer", "customer", "supplier"],
        }
    )
    result = transform(customers, table, contact_table(), {})
    assert set(rows(result.organizations)) == {"CUS-000001"}
    rejected = {r["key"]: r for r in result.rejected.to_pylist()}
    assert rejected["CUS-000002"]["field"] == "payload" and "name" in rejected["CUS-000002"]["reason"]
    assert rejected["SUP-000001"]["field"] == "kind"


def test_a_key_seen_twice_keeps_the_last_record_and_says_so(
    customers: SyncMapping, caplog: pytest.LogCaptureFixture
) -> None:
    first, last = customer("CUS-000001", name="Old name"), customer("CUS-000001", name="New name")
    with caplog.at_level(logging.WARNING, logger="ml_connector.transform"):
        result = run(customers, [first, last], [contact("BEC-1", customer_id="CUS-000001")] * 2)
    assert rows(result.organizations)["CUS-000001"]["name"] == "New name"
    assert result.persons.num_rows == 1 and result.rejected.num_rows == 0
    assert (
        "organization CUS-000001 came 2 times" in caplog.text and "contact BEC-1 came 2 times" in caplog.text
    )


def test_a_stream_of_batches_gives_the_tables_the_whole_extraction_gives(customers: SyncMapping) -> None:
    """Duplicates are decided across batches: a record's last reading wins, also when it is rejected."""
    orgs = org_table(
        customer("CUS-000002", name="First reading"),
        customer("CUS-000001"),
        customer("CUS-000003"),
        customer("CUS-000002", name="Last reading"),
        customer("CUS-000003", name=" "),  # read last, and rejected: the earlier good reading is not sent
    )
    contacts = contact_table(
        contact("BEC-2", customer_id="CUS-000002", first_name="Early"),
        contact("BEC-1", customer_id="CUS-000001"),
        contact("BEC-2", customer_id="CUS-000002", first_name="Late"),
    )
    whole = transform(customers, orgs, contacts, {})
    streamed = transform(
        customers, iter(orgs.to_batches(max_chunksize=1)), contacts.to_batches(max_chunksize=2), {}
    )
    assert streamed.organizations.equals(whole.organizations)
    assert streamed.persons.equals(whole.persons)
    assert streamed.rejected.equals(whole.rejected)
    assert list(rows(streamed.organizations)) == ["CUS-000001", "CUS-000002"]
    assert rows(streamed.organizations)["CUS-000002"]["name"] == "Last reading"
    assert streamed.rejected.column("key").to_pylist() == ["CUS-000003"]
    assert "Late" in rows(streamed.persons)["BEC-2"]["name"]


def test_two_suppliers_cross_linked_to_one_customer_are_one_organization_and_both_resolve(
    suppliers: SyncMapping,
) -> None:
    result = run(
        suppliers,
        [supplier("SUP-000001", customer_id="CUS-000001"), supplier("SUP-000002", customer_id="CUS-000001")],
        [contact("BEC-000001", supplier_id="SUP-000001"), contact("BEC-000002", supplier_id="SUP-000002")],
    )
    assert rows(result.organizations)["CUS-000001"]["source_ids"] == "CUS-000001,SUP-000002"  # the last read
    assert result.org_aliases == {"SUP-000001": "CUS-000001", "SUP-000002": "CUS-000001"}
    assert {p["org_key"] for p in rows(result.persons).values()} == {"CUS-000001"}
    assert result.rejected.num_rows == 0


# -- hashes and determinism -------------------------------------------------------------------------------------
def test_content_hash_is_stable_and_follows_mapped_values_only(customers: SyncMapping) -> None:
    def org_hash(record: WorkdayCustomer) -> str:
        return str(rows(run(customers, [record]).organizations)[record.workday_id]["content_hash"])

    base = customer("CUS-000001")
    assert org_hash(base) == org_hash(customer("CUS-000001"))
    unmapped = customer(
        "CUS-000001", tax_id="OTHER", credit_limit=5.0, as_of=datetime(2027, 1, 1, tzinfo=UTC)
    )
    assert org_hash(unmapped) == org_hash(base)
    assert org_hash(customer("CUS-000001", payment_terms=WorkdayRef(descriptor="Net 60"))) != org_hash(base)
    assert org_hash(customer("CUS-000001", name="Renamed")) != org_hash(base)
    row = rows(run(customers, [base]).organizations)["CUS-000001"]
    assert row["content_hash"] == content_hash(row["name"], row["values"])


def test_person_hash_ignores_the_order_workday_lists_secondary_emails_in(customers: SyncMapping) -> None:
    emails = (
        WorkdayEmail(value="p@x.de", primary=True),
        WorkdayEmail(value="b@x.de"),
        WorkdayEmail(value="a@x.de"),
    )
    one = contact("BEC-1", customer_id="C", emails=emails)
    two = contact("BEC-1", customer_id="C", emails=(emails[0], emails[2], emails[1]))
    hashes = [run(customers, [], [c]).persons.column("content_hash")[0].as_py() for c in (one, two)]
    assert hashes[0] == hashes[1]


def test_output_is_sorted_canonical_and_independent_of_input_order(
    customers: SyncMapping, suppliers: SyncMapping
) -> None:
    orgs = [customer(f"CUS-{i:06d}", supplier_id="SUP-1" if i % 3 == 0 else None) for i in range(30)]
    orgs.append(customer("CUS-000099", name=""))
    contacts = [contact(f"BEC-{i:06d}", customer_id=f"CUS-{i % 30:06d}") for i in range(60)]
    contacts.append(contact("BEC-000999", customer_id="CUS-000001", emails=(WorkdayEmail(value="bad"),)))
    first = run(customers, orgs, contacts)
    shuffled_orgs, shuffled_contacts = orgs[:], contacts[:]
    random.Random(3).shuffle(shuffled_orgs)
    random.Random(4).shuffle(shuffled_contacts)
    second = run(customers, shuffled_orgs, shuffled_contacts)
    for table in ("organizations", "persons", "rejected"):
        assert getattr(first, table).equals(getattr(second, table))
    keys = first.organizations.column("key").to_pylist()
    assert keys == sorted(keys) and first.persons.column("key").to_pylist() == sorted(
        first.persons.column("key").to_pylist()
    )
    raw = first.organizations.column("values")[0].as_py()
    assert raw == json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    aliases = run(suppliers, [supplier("SUP-2"), supplier("SUP-1")], aliases={"SUP-0": "CUS-0"}).org_aliases
    assert list(aliases) == ["SUP-0", "SUP-1", "SUP-2"]


def test_ten_thousand_organizations_and_twenty_thousand_contacts(customers: SyncMapping) -> None:
    """All of a large book comes through (how fast: ``make bench``)."""
    template_org = customer("CUS-TEMPLATE", supplier_id="SUP-TEMPLATE").model_dump_json()
    template_contact = contact("BEC-TEMPLATE", customer_id="CUS-TEMPLATE").model_dump_json()
    org_ids = [f"CUS-{i:06d}" for i in range(10_000)]
    contact_ids = [f"BEC-{i:06d}" for i in range(20_000)]
    orgs = pa.table(
        {
            "record_key": org_ids,
            "payload": [template_org.replace("TEMPLATE", i[4:]) for i in org_ids],
            "kind": ["customer"] * len(org_ids),
        }
    )
    contacts = pa.table(
        {
            "record_key": contact_ids,
            "payload": [
                template_contact.replace("BEC-TEMPLATE", c).replace("CUS-TEMPLATE", org_ids[n // 2])
                for n, c in enumerate(contact_ids)
            ],
            "kind": ["contact"] * len(contact_ids),
        }
    )
    result = transform(customers, orgs, contacts, {})
    assert (result.organizations.num_rows, result.persons.num_rows, result.rejected.num_rows) == (
        10_000,
        20_000,
        0,
    )


@pytest.mark.parametrize(
    ("entity", "customer_id", "supplier_id", "expected"),
    [
        ("customers", "CUS-1", None, "own"),
        ("customers", "CUS-1", "SUP-1", "own"),  # a contact of a dual company belongs to both syncs
        ("suppliers", "CUS-1", "SUP-1", "own"),
        ("suppliers", "CUS-1", None, "other"),
        ("customers", None, "SUP-1", "other"),
        ("customers", " ", None, "by_parent_wid"),  # blank IDs are no IDs
        ("suppliers", None, None, "by_parent_wid"),
    ],
)
def test_contact_ownership_is_one_rule_for_extract_and_transform(
    entity: str, customer_id: str | None, supplier_id: str | None, expected: str
) -> None:
    from ml_connector.vocabulary import ENTITIES

    assert ENTITIES[entity].contact_ownership(customer_id, supplier_id) == expected  # type: ignore[index]
