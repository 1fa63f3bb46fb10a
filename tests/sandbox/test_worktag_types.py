"""The sandbox tenant names its worktag types as configured, the way real tenants do, and nothing else changes."""

from __future__ import annotations

import argparse

import pytest

from ml_connector.cli import add_sandbox_arguments, config_from_args
from ml_connector.sandbox.config import WorktagType, WorktagTypes
from ml_connector.sandbox.workday.data import generate
from ml_connector.sandbox.workday.raas import customer_row, supplier_row
from ml_connector.sandbox.workday.store import Version

RENAMED = WorktagTypes.parse("industry=CUSTOM_WORKTAG_1,region=CUSTOM_WORKTAG_3:Sales Region")


def _types(tags: tuple[object, ...]) -> list[str]:
    return [tag.worktag_type.ids[0][1] for tag in tags]  # type: ignore[attr-defined]


def test_renamed_types_carry_the_same_values_on_the_same_records() -> None:
    default, renamed = generate(5, 40, 20), generate(5, 40, 20, RENAMED)
    for before, after in zip(default.customers, renamed.customers, strict=True):
        assert before.customer_id == after.customer_id and before.entity == after.entity
        assert [t.value for t in before.worktags] == [t.value for t in after.worktags]
        assert _types(before.worktags) == ["INDUSTRY", "SEGMENT", "REGION"]
        assert _types(after.worktags) == ["CUSTOM_WORKTAG_1", "SEGMENT", "CUSTOM_WORKTAG_3"]
        assert [t.worktag_type.descriptor for t in after.worktags] == [
            "Custom Worktag 1",
            "Segment",
            "Sales Region",
        ]
    assert _types(renamed.suppliers[0].worktags) == ["CUSTOM_WORKTAG_1", "CUSTOM_WORKTAG_3"]
    assert [c.contact_id for c in default.contacts] == [c.contact_id for c in renamed.contacts]


def test_the_reports_pick_worktags_by_role_whatever_the_type_is_called() -> None:
    data = generate(5, 10, 10, RENAMED)
    customer, supplier = data.customers[0], data.suppliers[0]
    row = customer_row(
        Version(data.updated[customer.customer_id], data.updated[customer.customer_id], customer)
    )
    industry, segment, region = (t.value.descriptor for t in customer.worktags)
    assert (row["Industry"], row["Segment"], row["Sales_Region"]) == (industry, segment, region)
    moment = data.updated[supplier.supplier_id]
    supplier_columns = supplier_row(Version(moment, moment, supplier))
    assert supplier_columns["Industry"] == supplier.worktags[0].value.descriptor
    assert supplier_columns["Sales_Region"] == supplier.worktags[1].value.descriptor


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ml-connector sandbox")
    add_sandbox_arguments(parser)
    return parser


def test_the_flag_reaches_the_config_and_defaults_to_the_shipped_names() -> None:
    config = config_from_args(_parser().parse_args(["--worktag-types", "industry=CUSTOM_WORKTAG_1"]))
    assert config.worktag_types.industry == WorktagType(id="CUSTOM_WORKTAG_1", name="Custom Worktag 1")
    assert config.worktag_types.region.id == "REGION"
    assert config_from_args(_parser().parse_args([])).worktag_types == WorktagTypes()
    assert WorktagTypes().rows() == (("INDUSTRY", "Industry"), ("SEGMENT", "Segment"), ("REGION", "Region"))


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("industri=X", "'industri=X' does not name a role"),
        ("CUSTOM_WORKTAG_1", "does not name a role"),
        ("industry=CUSTOM WORKTAG", "letters, digits and underscores"),
        ("industry=A,industry=B", "industry is given twice"),
        ("industry=REGION", "region and industry both use worktag type REGION"),
        (",", "no worktag type given"),
    ],
)
def test_a_bad_flag_names_itself_and_what_to_write(
    value: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["--worktag-types", value])
    err = capsys.readouterr().err
    assert "argument --worktag-types:" in err and problem in err
    if "both use" not in problem:
        assert "industry=CUSTOM_WORKTAG_1,region=CUSTOM_WORKTAG_3" in err
