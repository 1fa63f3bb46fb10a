"""``discover`` without a tenant: what a sample holds, the starter mapping written from it, and the coverage
warnings ``doctor`` shows for a mapping that reads what no sampled record carries."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from ml_connector.mapping import load_mapping
from ml_connector.models.workday import (
    WorkdayAddress,
    WorkdayContact,
    WorkdayCustomer,
    WorkdayEmail,
    WorkdayRef,
)
from ml_connector.onboarding.discover import add_discover_parser, render, run_discover
from ml_connector.onboarding.sample import Sample, guess_roles, mapping_coverage, summarize
from ml_connector.onboarding.starter import scalar, starter_mapping, write_starter

ROOT = Path(__file__).resolve().parents[2]
AS_OF = datetime(2026, 12, 1, tzinfo=UTC)
INDUSTRIES = ("Manufacturing", "Healthcare", "Manufacturing")
REGIONS = ("Europe, Middle East and Africa", "Americas", "Asia Pacific")


def _customer(n: int, *, industry: bool = True, status: str = "ACTIVE") -> WorkdayCustomer:
    tags = {"REGION": REGIONS[n % 3], "CUSTOM_WORKTAG_7": f"Cost center {n}"}
    if industry:
        tags["CUSTOM_WORKTAG_1"] = INDUSTRIES[n % 3]
    return WorkdayCustomer(
        workday_id=f"CUS-{n:06d}",
        wid=f"wid{n}",
        name=f"Customer {n}",
        category=WorkdayRef(id="CORP", descriptor="Corporate" if n % 2 else "Government"),
        payment_terms=WorkdayRef(id="T", descriptor="2% 10, Net 30" if n == 0 else "Net 30"),
        currency="EUR",
        status=status,
        worktags=tags,
        addresses=(WorkdayAddress(country_code="DE", region_code="DE-BY", region="Bayern", primary=True),),
        source="soap",
        as_of=AS_OF,
    )


def _contact(n: int, parent: str | None, *, parent_wid: str | None = None) -> WorkdayContact:
    return WorkdayContact(
        contact_id=f"BEC-{n:06d}",
        first_name="Ada",
        last_name=f"Lovelace {n}",
        emails=(WorkdayEmail(value=f"ada{n}@example.com", primary=True),),
        customer_id=parent,
        parent_wid=parent_wid,
        as_of=AS_OF,
    )


@pytest.fixture()
def sample() -> Sample:
    """Three customers: two carry the renamed industry type, all the region; four contacts over two."""
    records = (_customer(0), _customer(1), _customer(2, industry=False, status="INACTIVE"))
    contacts = (
        _contact(1, "CUS-000000"),
        _contact(2, "CUS-000000"),
        _contact(3, "CUS-000000"),
        _contact(4, None, parent_wid="wid2"),  # known only by its parent's WID
    )
    return Sample("customers", records, contacts)


# -- what a sample holds --------------------------------------------------------------------------------------
def test_the_summary_counts_worktag_types_values_and_contacts_per_record(sample: Sample) -> None:
    found = summarize(sample)
    assert (found.records, found.contacts, found.api) == (3, 4, "soap")
    worktags = {w.type_id: w for w in found.worktags}
    assert set(worktags) == {"CUSTOM_WORKTAG_1", "REGION", "CUSTOM_WORKTAG_7"}
    industry = worktags["CUSTOM_WORKTAG_1"]
    assert (industry.count, round(industry.share, 2), industry.distinct) == (2, 0.67, 2)
    assert industry.examples == ("Manufacturing", "Healthcare")
    assert industry.role == "industry" and worktags["REGION"].role == "region"
    assert worktags["CUSTOM_WORKTAG_7"].role is None and worktags["CUSTOM_WORKTAG_7"].distinct == 3
    assert [w.type_id for w in found.worktags][-1] == "CUSTOM_WORKTAG_1"  # the commonest first
    assert [(c.value, c.count) for c in found.values["category"]] == [("Government", 2), ("Corporate", 1)]
    assert [(c.value, c.count) for c in found.values["status"]] == [("Active", 2), ("Inactive", 1)]
    assert [(c.value, c.label) for c in found.values["region_code"]] == [("DE-BY", "Bayern")]
    assert found.contacts_per_record == {0: 1, 1: 1, 3: 1}
    assert found.sources["category"] == 3 and found.sources["tax_id"] == 0
    assert found.person_sources["emails"] == 4 and found.person_sources["phones"] == 0
    json_out = found.to_json()
    assert json_out["worktag_types"][-1] == {
        "type_id": "CUSTOM_WORKTAG_1",
        "source": "worktags.CUSTOM_WORKTAG_1",
        "records": 2,
        "share": 0.6667,
        "distinct_values": 2,
        "examples": ["Manufacturing", "Healthcare"],
        "looks_like": "industry",
    }
    text = render(found, sample_size=500)
    assert "Sampled 3 customers (asked for 500)" in text
    assert "CUSTOM_WORKTAG_1" in text and "2 of 3 (67%)" in text and "looks like industry" in text
    assert "DE-BY (Bayern) 3 (100%)" in text


def test_a_type_named_for_its_role_wins_over_values_and_each_role_goes_to_one_type() -> None:
    roles = guess_roles(
        {
            "SALES_TERRITORY": ("North", "South"),
            "CUSTOM_WORKTAG_3": ("EMEA", "APAC"),
            "CUSTOM_WORKTAG_4": ("Enterprise", "Mid-Market"),
            "CUSTOM_WORKTAG_5": ("Blue", "Green"),
        },
        {"SALES_TERRITORY": 1, "CUSTOM_WORKTAG_3": 5, "CUSTOM_WORKTAG_4": 5, "CUSTOM_WORKTAG_5": 5},
    )
    assert roles == {"SALES_TERRITORY": "region", "CUSTOM_WORKTAG_4": "segment"}


# -- the starter mapping --------------------------------------------------------------------------------------
def test_the_starter_mapping_loads_and_maps_what_was_found(sample: Sample, tmp_path: Path) -> None:
    text = starter_mapping(summarize(sample), conn_id="workday_acme")
    path = tmp_path / "customers.yaml"
    write_starter(path, text)
    mapping = load_mapping(path)  # unchanged, as the DAG reads it
    org = mapping.organization
    industry = org.field("Workday industry")
    assert industry is not None and industry.source == "worktags.CUSTOM_WORKTAG_1"
    region = org.field("Workday sales region")
    assert region is not None and region.source == "worktags.REGION"
    other = org.field("Workday worktag CUSTOM_WORKTAG_7")
    assert other is not None and other.type == "varchar"
    category = org.field("Workday customer category")
    assert category is not None and category.options == ["Government", "Corporate"]
    assert category.create_missing_options
    terms = org.field("Workday customer payment terms")
    assert terms is not None and set(terms.options or []) == {"Net 30", "2% 10, Net 30"}
    status = org.field("Workday customer status")
    assert status is not None and status.options == ["Active", "Inactive"]
    assert org.match_key.source == "org_key" and mapping.person.match_key.source == "person_key"
    assert mapping.schedule == "0 * * * *" and mapping.entity == "customers"
    assert "REVIEW: worktag type CUSTOM_WORKTAG_1 looks like the industry" in text
    assert "workday_acme" in text and "schedule:" in text  # the shipped settings and their comments kept
    assert "REVIEW: no sampled contact carries phones" in text and mapping.person.field("phones") is None
    assert mapping.person.field("emails") is not None
    assert mapping_coverage(mapping, sample) == []  # it maps nothing the sample lacks


def test_the_starter_for_suppliers_prefixes_the_role_fields(sample: Sample, tmp_path: Path) -> None:
    found = summarize(Sample("suppliers", sample.records, ()))
    path = tmp_path / "suppliers.yaml"
    write_starter(path, starter_mapping(found, conn_id="workday_default"))
    mapping = load_mapping(path)
    assert mapping.entity == "suppliers" and mapping.organization.field("Workday supplier industry")
    assert mapping.organization.field("Workday supplier ID") is not None


def test_an_empty_sample_writes_nothing() -> None:
    with pytest.raises(ValueError, match="no customer was sampled"):
        starter_mapping(summarize(Sample("customers", ())), conn_id="workday_default")


def test_an_existing_file_is_replaced_only_with_force(tmp_path: Path) -> None:
    path = tmp_path / "customers.yaml"
    path.write_text("mine", encoding="utf-8")
    with pytest.raises(FileExistsError, match="--force"):
        write_starter(path, "new")
    assert path.read_text(encoding="utf-8") == "mine"
    write_starter(path, "new", force=True)
    assert path.read_text(encoding="utf-8") == "new"


@pytest.mark.parametrize("label", ["Net 30", "2% 10, Net 30", "yes", "Étoile: #1", ' "quoted" ', "a\u2028b"])
def test_labels_read_back_as_written(label: str) -> None:
    assert yaml.safe_load(f"key: {scalar(label)}") == {"key": label}


# -- coverage ----------------------------------------------------------------------------------------------
def test_the_default_mapping_warns_that_no_record_has_its_worktag_types(sample: Sample) -> None:
    mapping = load_mapping(ROOT / "include" / "mappings" / "customers.yaml")
    messages = [str(w) for w in mapping_coverage(mapping, sample)]
    seen = "types seen: CUSTOM_WORKTAG_7 (100%), REGION (100%), CUSTOM_WORKTAG_1 (67%)"
    assert messages[:2] == [
        f"Workday industry: no sampled customer has worktag type INDUSTRY; {seen}",
        f"Workday segment: no sampled customer has worktag type SEGMENT; {seen}",
    ]
    assert len(messages) == 3, messages  # every other source is carried, every status is an option
    phones = mapping_coverage(mapping, sample)[2]
    assert (phones.kind, phones.field, phones.source) == ("person", "phones", "phones")


def test_values_an_enum_would_reject_are_named(sample: Sample) -> None:
    pending = Sample("customers", (*sample.records, _customer(3, status="PENDING")), ())
    mapping = load_mapping(ROOT / "include" / "mappings" / "customers.yaml")
    status = [w for w in mapping_coverage(mapping, pending) if w.field == "Workday customer status"]
    assert (
        len(status) == 1
        and "'Pending' (1)" in status[0].message
        and "create_missing_options" in status[0].message
    )


def test_an_empty_sample_is_one_warning() -> None:
    mapping = load_mapping(ROOT / "include" / "mappings" / "suppliers.yaml")
    assert [str(w) for w in mapping_coverage(mapping, Sample("suppliers", ()))] == [
        "no supplier was sampled, so no source can be checked"
    ]


# -- the command's errors ----------------------------------------------------------------------------------
def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ml-connector")
    add_discover_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["discover", *argv])


def test_an_existing_target_is_refused_before_workday_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "customers.yaml"
    target.write_text("mine", encoding="utf-8")
    assert run_discover(_args("--entity", "customers", "--conn-id", "nowhere", "--write", str(target))) == 1
    assert "already exists; pass --force" in capsys.readouterr().err
    assert run_discover(_args("--entity", "customers", "--write", str(tmp_path / "suppliers.yaml"))) == 1
    assert "name it customers.yaml" in capsys.readouterr().err


def test_a_bad_connection_is_one_line_without_its_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_WORKDAY_BROKEN", "workday://client:s3cret-value@host/acme?auth_kind=nonsense"
    )
    assert run_discover(_args("--entity", "customers", "--conn-id", "workday_broken")) == 1
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith("ml-connector discover: ") and "auth_kind" in last and "s3cret-value" not in err


def test_the_sample_size_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _args("--entity", "customers", "--sample", "0")
    assert "--sample: must be 1 or more" in capsys.readouterr().err
