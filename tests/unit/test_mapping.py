"""Mapping files: the shipped ones load, and every broken rule is reported with its file and key path."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from ml_connector.mapping import (
    DEFAULT_SCHEDULES,
    FieldSpec,
    MappingError,
    SyncMapping,
    load_mapping,
    parse_mapping,
    schedule_problem,
)

ROOT = Path(__file__).resolve().parents[2]
MAPPINGS = ROOT / "include" / "mappings"


def shipped(entity: str) -> dict[str, Any]:
    data = yaml.safe_load((MAPPINGS / f"{entity}.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def problems_of(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(MappingError) as caught:
        parse_mapping(data, "test.yaml")
    assert "test.yaml" in str(caught.value)
    return dict(caught.value.problems)


def org_field(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in data["organization"]["fields"] if f["name"] == name)


def org_index(data: dict[str, Any], name: str) -> int:
    return next(i for i, f in enumerate(data["organization"]["fields"]) if f["name"] == name)


# -- the shipped files ------------------------------------------------------------------------------------------
def test_shipped_customers_mapping_loads_with_the_agreed_fields() -> None:
    m = load_mapping(MAPPINGS / "customers.yaml")
    assert (m.entity, m.schedule, m.overlap_minutes, m.catchup) == ("customers", "0 * * * *", 10, False)
    assert (m.create_missing_fields, m.inactive_policy, m.retention_days) == (True, "update_status", 14)
    custom = {f.name: f for f in m.organization.custom_fields}
    assert set(custom) == {
        "Workday ID",
        "Workday roles",
        "Workday customer category",
        "Workday customer payment terms",
        "Workday customer currency",
        "Workday region",
        "Workday country",
        "Workday industry",
        "Workday segment",
        "Workday customer status",
    }
    assert m.organization.match_key.name == "Workday ID" and m.organization.match_key.source == "org_key"
    assert custom["Workday roles"].type == "set" and custom["Workday roles"].options == [
        "Customer",
        "Supplier",
    ]
    assert custom["Workday customer category"].create_missing_options
    assert custom["Workday customer status"].options == ["Active", "Inactive"]
    assert custom["Workday industry"].source == "worktags.INDUSTRY"
    assert {f.name for f in m.organization.fields if f.standard} == {"name", "address"}
    assert m.person.match_key.name == "Workday contact ID" and m.person.match_key.source == "person_key"
    assert {f.name for f in m.person.fields if f.standard} == {
        "name",
        "first_name",
        "last_name",
        "emails",
        "phones",
    }


def test_shipped_suppliers_mapping_loads_with_the_agreed_fields() -> None:
    m = load_mapping(MAPPINGS / "suppliers.yaml")
    assert (m.entity, m.schedule) == ("suppliers", "0 2 * * *")
    assert {f.name for f in m.organization.custom_fields} == {
        "Workday ID",
        "Workday roles",
        "Workday supplier ID",
        "Workday supplier category",
        "Workday supplier payment terms",
        "Workday supplier currency",
        "Workday region",
        "Workday country",
        "Workday supplier status",
    }
    assert m.organization.match_key.source == "org_key"
    assert m.person.match_key.name == "Workday contact ID"


def test_schedule_defaults_per_entity_when_the_file_leaves_it_out() -> None:
    for entity in ("customers", "suppliers"):
        data = shipped(entity)
        del data["schedule"]
        assert parse_mapping(data).schedule == DEFAULT_SCHEDULES[entity]


def test_a_mapping_built_in_code_is_checked_by_the_same_rules() -> None:
    data = shipped("customers")
    org_field(data, "Workday ID")["match_key"] = False
    with pytest.raises(ValueError, match="match_key"):
        SyncMapping.model_validate(data)


def test_field_limit_is_the_mapping_max_length_capped_by_pipedrive() -> None:
    assert FieldSpec(name="A", type="varchar", source="name").limit == 255
    assert FieldSpec(name="A", type="varchar", source="name", max_length=40).limit == 40
    assert FieldSpec(name="A", type="text", source="name").limit is None
    assert FieldSpec(name="name", standard=True, source="name").limit == 255


@pytest.mark.parametrize(("field_type", "cap"), [("varchar", 255), ("varchar_auto", 255), ("phone", 255)])
def test_a_max_length_past_what_pipedrive_takes_is_refused(field_type: str, cap: int) -> None:
    data = shipped("customers")
    org_field(data, "Workday region").update(type=field_type, max_length=cap + 45)
    problems = problems_of(data)
    where = f"organization.fields[{org_index(data, 'Workday region')}].max_length"
    assert (
        f"max_length {cap + 45} is more than Pipedrive takes for {field_type} fields ({cap})"
        in problems[where]
    )
    org_field(data, "Workday region")["max_length"] = cap
    assert (
        parse_mapping(data, "test.yaml").organization.fields[org_index(data, "Workday region")].limit == cap
    )


def test_a_file_named_after_an_entity_must_map_that_entity(tmp_path: Path) -> None:
    text = (MAPPINGS / "customers.yaml").read_text(encoding="utf-8")
    path = tmp_path / "suppliers.yaml"
    path.write_text(text, encoding="utf-8")  # customers.yaml copied over suppliers.yaml
    with pytest.raises(MappingError, match=r"suppliers\.yaml declares entity: customers") as caught:
        load_mapping(path)
    assert dict(caught.value.problems).keys() == {"entity"}
    (tmp_path / "my_customers.yaml").write_text(text, encoding="utf-8")  # any other name is free
    assert load_mapping(tmp_path / "my_customers.yaml").entity == "customers"


# -- schedules --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "schedule", ["0 * * * *", "0 2 * * *", "@hourly", "@daily", "@weekly", "*/5 * * * *", "15 6-18 * * 1-5"]
)
def test_hourly_daily_and_five_minute_schedules_are_accepted(schedule: str) -> None:
    assert schedule_problem(schedule) is None
    data = shipped("customers")
    data["schedule"] = schedule
    assert parse_mapping(data).schedule == schedule


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("* * * * *", "1 minute(s) apart"),
        ("*/2 * * * *", "2 minute(s) apart"),
        ("0,3 * * * *", "3 minute(s) apart"),  # irregular gaps: the smallest counts
        ("*/2 * * * 1", "2 minute(s) apart"),  # only on Mondays, still every 2 minutes then
        ("@continuous", "not a recurring schedule"),
        ("@once", "not a recurring schedule"),
        ("@fortnightly", "unknown preset"),
        ("0 0 * * * 30", "not a 5-field cron expression"),
        ("every hour", "not a 5-field cron expression"),
        ("61 * * * *", "not a 5-field cron expression"),
    ],
)
def test_schedules_more_often_than_five_minutes_or_malformed_are_rejected(
    schedule: str, expected: str
) -> None:
    data = shipped("customers")
    data["schedule"] = schedule
    assert expected in problems_of(data)["schedule"]


# -- structure --------------------------------------------------------------------------------------------------
def test_unknown_keys_are_refused_with_their_path() -> None:
    data = shipped("customers")
    data["schedul"] = "0 * * * *"
    data["person"]["fields"][0]["sourc"] = "name"
    problems = problems_of(data)
    assert "unknown key" in problems["schedul"]
    assert "unknown key" in problems["person.fields[0].sourc"]


def test_wrong_types_name_the_key() -> None:
    data = shipped("customers")
    data["overlap_minutes"] = "ten"
    data["catchup"] = "sometimes"
    data["inactive_policy"] = "delete"
    org_field(data, "Workday customer currency")["type"] = "currency"
    problems = problems_of(data)
    assert set(problems) >= {"overlap_minutes", "catchup", "inactive_policy"}
    assert f"organization.fields[{org_index(data, 'Workday customer currency')}].type" in problems


def test_a_missing_key_and_an_empty_field_list_are_reported() -> None:
    data = shipped("customers")
    del data["entity"]
    data["person"]["fields"] = []
    problems = problems_of(data)
    assert problems["entity"] == "required key is missing"
    assert "person.fields" in problems


def test_unknown_source_names_the_field_and_the_source() -> None:
    data = shipped("customers")
    org_field(data, "Workday customer payment terms")["source"] = "payment_term"
    path = f"organization.fields[{org_index(data, 'Workday customer payment terms')}].source"
    message = problems_of(data)[path]
    assert "unknown source 'payment_term'" in message and "'Workday customer payment terms'" in message
    assert "payment_terms" in message  # the known names are listed


def test_worktag_sources_take_any_type_name_but_not_an_empty_one() -> None:
    data = shipped("customers")
    org_field(data, "Workday industry")["source"] = "worktags.COST_CENTER"
    assert parse_mapping(data).organization.field("Workday industry") is not None
    org_field(data, "Workday industry")["source"] = "worktags."
    assert (
        "unknown source"
        in problems_of(data)[f"organization.fields[{org_index(data, 'Workday industry')}].source"]
    )


def test_person_sources_are_checked_against_the_person_view() -> None:
    data = shipped("customers")
    data["person"]["fields"][0]["source"] = "roles"  # an organization source
    assert "unknown source 'roles' for persons" in problems_of(data)["person.fields[0].source"]


def test_a_source_whose_value_the_field_type_cannot_hold_is_refused() -> None:
    data = shipped("customers")
    org_field(data, "Workday customer currency")["source"] = "roles"
    data["person"]["fields"][0]["source"] = "emails"
    problems = problems_of(data)
    assert (
        "cannot take"
        in problems[f"organization.fields[{org_index(data, 'Workday customer currency')}].source"]
    )
    assert "standard field 'name' cannot take" in problems["person.fields[0].source"]


# -- match keys -------------------------------------------------------------------------------------------------
def test_two_match_keys_are_refused() -> None:
    data = shipped("customers")
    extra = {"name": "Second ID", "type": "varchar", "source": "org_key", "match_key": True}
    data["organization"]["fields"].append(extra)
    message = problems_of(data)["organization.fields"]
    assert "exactly one field needs match_key: true" in message and "'Second ID'" in message


def test_no_match_key_is_refused_even_next_to_other_problems() -> None:
    data = shipped("suppliers")
    org_field(data, "Workday ID")["match_key"] = False
    org_field(data, "Workday supplier status")["options"] = None  # a field-level problem as well
    problems = problems_of(data)
    assert "found none" in problems["organization.fields"]
    assert f"organization.fields[{org_index(data, 'Workday supplier status')}].options" in problems


def test_the_match_key_must_be_a_text_custom_field_on_the_identity() -> None:
    data = shipped("customers")
    key = org_index(data, "Workday ID")
    org_field(data, "Workday ID")["source"] = "workday_id"
    org_field(data, "Workday ID")["type"] = "double"
    problems = problems_of(data)
    assert "use varchar" in problems[f"organization.fields[{key}].type"]
    data = shipped("customers")
    data["person"]["fields"][0]["match_key"] = True
    data["person"]["fields"][-1]["match_key"] = False
    assert "must be a custom field" in problems_of(data)["person.fields[0].match_key"]


# -- options and standard fields --------------------------------------------------------------------------------
def test_enum_without_options_and_without_create_missing_options_is_refused() -> None:
    data = shipped("customers")
    i = org_index(data, "Workday customer category")
    org_field(data, "Workday customer category")["options"] = None
    org_field(data, "Workday customer category")["create_missing_options"] = False
    path = f"organization.fields[{i}].options"
    message = problems_of(data)[path]
    assert "create_missing_options: true" in message and "'Workday customer category'" in message
    org_field(data, "Workday customer category")["create_missing_options"] = True
    assert parse_mapping(data).organization.field("Workday customer category") is not None


def test_option_lists_must_be_clean_and_only_on_enum_and_set_fields() -> None:
    data = shipped("customers")
    org_field(data, "Workday customer status")["options"] = ["Active", "active", ""]
    org_field(data, "Workday customer currency")["options"] = ["EUR"]
    problems = problems_of(data)
    status = org_index(data, "Workday customer status")
    assert "listed twice" in problems[f"organization.fields[{status}].options[1]"]
    assert "blank" in problems[f"organization.fields[{status}].options[2]"]
    assert (
        "only enum and set"
        in problems[f"organization.fields[{org_index(data, 'Workday customer currency')}].options"]
    )


def test_standard_fields_have_fixed_names_and_no_type() -> None:
    data = shipped("customers")
    data["organization"]["fields"][0]["type"] = "varchar"
    data["organization"]["fields"].append({"name": "website", "standard": True, "source": "website"})
    problems = problems_of(data)
    assert "remove this key" in problems["organization.fields[0].type"]
    last = len(data["organization"]["fields"]) - 1
    assert "one of name, address" in problems[f"organization.fields[{last}].name"]


def test_custom_fields_need_a_type_and_unique_names() -> None:
    data = shipped("customers")
    data["organization"]["fields"].append({"name": "Workday Customer Currency", "source": "currency"})
    last = len(data["organization"]["fields"]) - 1
    problems = problems_of(data)
    assert "needs a type" in problems[f"organization.fields[{last}].type"]
    assert "already mapped" in problems[f"organization.fields[{last}].name"]


def test_the_standard_name_must_be_mapped() -> None:
    data = shipped("customers")
    data["person"]["fields"] = [f for f in data["person"]["fields"] if f["name"] != "name"]
    assert "map the standard field name" in problems_of(data)["person.fields"]


def test_several_problems_are_reported_together() -> None:
    data = copy.deepcopy(shipped("customers"))
    data["schedule"] = "*/2 * * * *"
    org_field(data, "Workday region")["source"] = "regio"
    data["person"]["fields"][0]["bogus"] = 1
    assert len(problems_of(data)) == 3


# -- files ------------------------------------------------------------------------------------------------------
def test_yaml_syntax_errors_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("entity: customers\nschedule: [unclosed\n", encoding="utf-8")
    with pytest.raises(MappingError, match=r"broken\.yaml") as caught:
        load_mapping(path)
    assert "line " in str(caught.value)


def test_a_file_that_is_not_a_mapping_or_missing_is_a_mapping_error(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- entity\n", encoding="utf-8")
    with pytest.raises(MappingError, match="mapping of keys"):
        load_mapping(path)
    with pytest.raises(MappingError, match="cannot read"):
        load_mapping(tmp_path / "absent.yaml")


def test_mapping_error_from_a_file_names_path_key_and_problem(tmp_path: Path) -> None:
    data = shipped("suppliers")
    data["schedule"] = "* * * * *"
    path = tmp_path / "suppliers.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    assert isinstance(caught.value, ValueError)
    text = str(caught.value)
    assert str(path) in text and "schedule: '* * * * *' fires 1 minute(s) apart" in text
