"""The load's pieces without HTTP: inputs, what is known, payloads, outcomes, the record of decisions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from ml_connector.audit import AuditTrail, LoadSummary
from ml_connector.fields import ResolvedField, ResolvedFields
from ml_connector.http.errors import ApiError, BudgetExhausted, CredentialRejected, OutcomeUnknown
from ml_connector.load.execute import Writer, lost_create, outcome, payload
from ml_connector.load.identity import Listing
from ml_connector.load.inputs import KindRows, rejected_ops, rows_to_load
from ml_connector.load.known import KnownState
from ml_connector.load.plan import Change, Known, PlannedOp, Row
from ml_connector.load.record import LoadRecord, write_cost
from ml_connector.load.state import Journal, JournalEntry
from ml_connector.staging.area import StagingArea
from ml_connector.staging.files import RunFiles
from ml_connector.transform import ORGANIZATIONS_SCHEMA

RESOLVED = ResolvedFields(
    entity="customers",
    organization=(
        ResolvedField("name", "name", "varchar", standard=True),
        ResolvedField("Workday ID", "a" * 40, "varchar", match_key=True),
        ResolvedField("Workday currency", "b" * 40, "varchar"),
    ),
    person=(
        ResolvedField("name", "name", "varchar", standard=True),
        ResolvedField("Workday contact ID", "c" * 40, "varchar", match_key=True),
    ),
)


def org(key: str = "CUS-1", **values: Any) -> Row:
    return Row("organization", key, {"name": "Acme", "Workday ID": key, **values}, "h-" + key)


def person(key: str = "CON-1", org_key: str = "CUS-1") -> Row:
    return Row("person", key, {"name": "Ann", "Workday contact ID": key}, "h-" + key, org_key=org_key)


# -- inputs ---------------------------------------------------------------------------------------------------
def test_rows_to_load_takes_carried_first_drops_rejects_and_pins_the_match_field() -> None:
    current = [org("CUS-2"), org("CUS-1", **{"Workday ID": "stale"}), org("CUS-3")]
    carried = [org("CUS-1"), org("CUS-9")]
    rows = rows_to_load(current, carried, rejected={"CUS-3"}, match_field="Workday ID")
    assert [r.key for r in rows] == ["CUS-1", "CUS-9", "CUS-2"]
    assert all(r.values["Workday ID"] == r.key for r in rows)


def test_a_kinds_rows_are_read_a_batch_at_a_time_carried_first_rejects_left_out(tmp_path: Path) -> None:
    files = RunFiles(StagingArea(f"file://{tmp_path}"), "workday_customers_to_pipedrive", "run-1")
    names = ["CUS-1", "CUS-2", "CUS-3", "CUS-4", "CUS-5"]
    files.write_table(
        "transformed_organizations",
        pa.Table.from_pylist(
            [
                {
                    "key": k,
                    "name": k,
                    "values": json.dumps({"name": f"new {k}"}),
                    "content_hash": k,
                    "active": k != "CUS-4",
                }
                for k in names
            ],
            schema=ORGANIZATIONS_SCHEMA,
        ),
    )
    carried = [org("CUS-3"), org("CUS-9")]  # waited from an earlier run; CUS-2 is rejected in this one
    [rows] = [
        KindRows(
            "organization",
            files,
            rows_to_load([], carried, rejected=set(), match_field="Workday ID"),
            frozenset({"CUS-3", "CUS-9", "CUS-2"}),
            "Workday ID",
            5,
        )
    ]
    batches = list(rows.batches(2))
    assert [[r.key for r in b] for b in batches] == [["CUS-3", "CUS-9"], ["CUS-1", "CUS-4"], ["CUS-5"]]
    assert batches[1][0].values == {"name": "new CUS-1", "Workday ID": "CUS-1"}
    assert list(rows.keys_active()) == [
        ("CUS-3", True),
        ("CUS-9", True),
        ("CUS-1", True),
        ("CUS-4", False),
        ("CUS-5", True),
    ]


def test_rejected_ops_keep_kind_key_reason_and_the_field() -> None:
    rejects = rejected_ops(
        [
            {"entity": "person", "key": "CON-7", "field": "email", "reason": "not an email address"},
            {"entity": "organization", "key": "CUS-4", "field": None, "reason": "unreadable"},
        ]
    )
    assert [(r.op.kind, r.op.key, r.op.action, r.op.reason, r.fields) for r in rejects] == [
        ("person", "CON-7", "rejected", "not an email address", ["email"]),
        ("organization", "CUS-4", "rejected", "unreadable", []),
    ]


# -- what is known ----------------------------------------------------------------------------------------------
def test_journal_replay_and_listing_repair() -> None:
    known = KnownState(identity={"organization": {"CUS-1": 1, "CUS-2": 2}, "person": {}})
    known.pushed["organization"]["CUS-2"] = Known({"name": "Old"}, "h")
    known.replay([JournalEntry("r1", "organization", "CUS-3", "create", 3, "h3", {"name": "New"})])
    assert known.identity["organization"] == {"CUS-1": 1, "CUS-2": 2, "CUS-3": 3}
    assert known.pushed["organization"]["CUS-3"] == Known({"name": "New"}, "h3")

    stale = known.take_listing("organization", Listing(identity={"CUS-1": 1, "CUS-3": 3}, pages=1))
    assert stale == {"CUS-2"}
    assert known.identity["organization"] == {"CUS-1": 1, "CUS-3": 3}
    assert "CUS-2" not in known.pushed["organization"]


@pytest.mark.parametrize(
    ("mode", "resumed", "identity", "expected"),
    [
        ("incremental", False, {"CUS-1": 1}, False),  # every key is known: no listing
        ("incremental", False, {"CUS-2": 2}, True),  # a key the map lacks: list before creating
        ("incremental", False, {}, True),  # nothing known at all
        ("incremental", True, {"CUS-1": 1}, True),  # resuming a killed load
        ("reconcile", False, {"CUS-1": 1}, True),  # reconcile always reads Pipedrive
    ],
)
def test_must_list(mode: Any, resumed: bool, identity: dict[str, int], expected: bool) -> None:
    known = KnownState(identity={"organization": identity, "person": {}})
    assert (
        known.must_list("organization", [("CUS-1", True)], mode=mode, resumed=resumed, skip_inactive=False)
        is expected
    )


def test_plan_inputs_prefer_pushed_values_except_in_reconcile() -> None:
    known = KnownState(identity={"organization": {"CUS-1": 1}, "person": {}})
    known.pushed["organization"]["CUS-1"] = Known({"name": "pushed"}, "h")
    known.take_listing(
        "organization", Listing(identity={"CUS-1": 1}, known={"CUS-1": Known({"name": "listed"})})
    )
    incremental = known.plan_inputs("organization", mode="incremental", inactive_policy="update_status")
    reconcile = known.plan_inputs("organization", mode="reconcile", inactive_policy="update_status")
    assert incremental.known["CUS-1"].values == {"name": "pushed"}
    assert reconcile.known["CUS-1"].values == {"name": "listed"}


def test_plan_inputs_for_persons_carry_org_ids_pending_orgs_and_org_conflicts() -> None:
    known = KnownState(identity={"organization": {"CUS-1": 1}, "person": {}})
    known.take_listing("organization", Listing(identity={"CUS-1": 1}, conflicts={"CUS-5": [5, 6]}))
    inputs = known.plan_inputs("person", mode="incremental", inactive_policy="skip", pending_orgs=["CUS-2"])
    assert inputs.org_ids == {"CUS-1": 1, "CUS-2": "(new organization CUS-2)"}
    assert inputs.org_conflicts == {"CUS-5": [5, 6]}
    assert inputs.inactive_policy == "skip"
    assert known.plan_inputs("organization", mode="incremental", inactive_policy="skip").org_conflicts == {}


def test_written_and_forget() -> None:
    known = KnownState(identity={"organization": {"CUS-1": 11}, "person": {}})
    op = PlannedOp("person", "CON-1", "create", row=person())
    known.written(op, 21)
    assert known.identity["person"] == {"CON-1": 21}
    assert known.pushed["person"]["CON-1"] == Known(
        {"name": "Ann", "Workday contact ID": "CON-1", "org_id": 11}, "h-CON-1"
    )
    known.forget("person", "CON-1")
    assert known.identity["person"] == {} and known.pushed["person"] == {}
    assert known.forgotten["person"] == {"CON-1"}


# -- payloads and outcomes ------------------------------------------------------------------------------------
def test_payload_sends_changed_fields_under_their_keys_and_a_create_leaves_empties_out() -> None:
    changes = (Change("name", None, "Acme"), Change("Workday currency", "EUR", ""))
    create = PlannedOp("organization", "CUS-1", "create", changes=changes)
    update = PlannedOp("organization", "CUS-1", "update", 1, changes=changes)
    assert payload(create, RESOLVED) == {"name": "Acme"}
    assert payload(update, RESOLVED) == {"name": "Acme", "custom_fields": {"b" * 40: None}}
    moved = PlannedOp("person", "CON-1", "update", 2, changes=(Change("org_id", 1, 7),))
    assert payload(moved, RESOLVED) == {"org_id": 7}


NAMED = ResolvedFields(
    entity="customers",
    organization=RESOLVED.organization,
    person=(
        *RESOLVED.person,
        ResolvedField("first_name", "first_name", "varchar", standard=True),
        ResolvedField("last_name", "last_name", "varchar", standard=True),
        ResolvedField("emails", "emails", "varchar", standard=True),
    ),
)


def named(name: str, first: str | None, last: str | None) -> Row:
    values = {"name": name, "first_name": first, "last_name": last, "Workday contact ID": "CON-1"}
    return Row("person", "CON-1", values, "h", org_key="CUS-1")


@pytest.mark.parametrize(
    ("row", "changes", "expected"),
    [
        # a new last name alone: the whole name goes, or Pipedrive would keep a stale first name
        (
            named("Ms. Anna Berg", "Anna", "Berg"),
            (Change("last_name", "Schmidt", "Berg"),),
            {"name": "Ms. Anna Berg", "first_name": "Anna", "last_name": "Berg"},
        ),
        # a blank part is "" (Pipedrive refuses null there), not left out
        (
            named("Anna", "Anna", None),
            (Change("name", "Anna Berg", "Anna"), Change("last_name", "Berg", None)),
            {"name": "Anna", "first_name": "Anna", "last_name": ""},
        ),
        # both parts blank: said so, or Pipedrive would split the name into them
        (
            named("Acme Buyer", None, None),
            (Change("first_name", "A", None),),
            {"name": "Acme Buyer", "first_name": "", "last_name": ""},
        ),
        # no name part changed: nothing of the name goes
        (
            named("Anna Berg", "Anna", "Berg"),
            (Change("emails", [], [{"value": "a@x.test"}]),),
            {"emails": [{"value": "a@x.test"}]},
        ),
    ],
)
def test_a_person_s_name_goes_out_whole(row: Row, changes: tuple[Change, ...], expected: Any) -> None:
    op = PlannedOp("person", "CON-1", "update", 2, changes=changes, row=row)
    assert payload(op, NAMED) == expected


def test_a_new_person_with_a_blank_part_says_so_rather_than_leave_pipedrive_to_split_the_name() -> None:
    row = named("Ms. Berg", None, "Berg")
    changes = (Change("name", None, "Ms. Berg"), Change("last_name", None, "Berg"))
    op = PlannedOp("person", "CON-1", "create", changes=changes, row=row)
    assert payload(op, NAMED) == {"name": "Ms. Berg", "first_name": "", "last_name": "Berg"}


def test_outcomes() -> None:
    op = PlannedOp("organization", "CUS-1", "update", 5, row=org())
    written = outcome(op, {"id": 5}, deferred_reason="budget")
    assert (written.op.action, written.op.pipedrive_id, written.stop, written.budget) == (
        "update",
        5,
        None,
        None,
    )

    budget = BudgetExhausted("Pipedrive", "at reserve", remaining=10, reserve=100)
    deferred = outcome(op, budget, deferred_reason="budget gone")
    assert (deferred.op.action, deferred.op.reason, deferred.budget) == ("deferred", "budget gone", budget)

    gone = outcome(op, ApiError("Pipedrive", "not found", status=404), deferred_reason="")
    assert gone.op.action == "failed" and gone.deleted and gone.stop is None
    assert gone.op.reason == "write failed (ApiError, HTTP 404): not found; retried next run"
    create_404 = outcome(
        op.but("create", ""), ApiError("Pipedrive", "not found", status=404), deferred_reason=""
    )
    assert not create_404.deleted

    rejected = CredentialRejected("Pipedrive", "token revoked", status=401)
    stopped = outcome(op, rejected, deferred_reason="")
    assert stopped.op.action == "failed" and stopped.stop is rejected

    crashed = outcome(op, RuntimeError("secret-value"), deferred_reason="")
    assert crashed.op.reason == "write failed (RuntimeError); retried next run"


class FakeHook:
    def __init__(self, fail: Exception | None = None) -> None:
        self.sent: list[tuple[str, Any, dict[str, Any]]] = []
        self.fail = fail

    def create(self, entity: Any, payload: dict[str, Any]) -> dict[str, Any]:
        if self.fail:
            raise self.fail
        self.sent.append(("create", entity, payload))
        return {"id": 40 + len(self.sent)}

    def patch(self, entity: Any, record_id: int, payload: dict[str, Any]) -> dict[str, Any]:
        self.sent.append(("patch", record_id, payload))
        return {"id": record_id}

    def connect(self) -> None:
        pass


def test_writer_journals_each_success_and_counts_what_was_sent(tmp_path: Path) -> None:
    area = StagingArea(str(tmp_path))
    journal = Journal(area, "customers", "run-1")
    known = KnownState()
    hook = FakeHook()
    writer = Writer(hook, RESOLVED, journal, known, "run-1")
    ops = [
        PlannedOp("organization", "CUS-1", "create", changes=(Change("name", None, "Acme"),), row=org()),
        PlannedOp(
            "organization", "CUS-2", "update", 7, changes=(Change("name", "A", "B"),), row=org("CUS-2")
        ),
    ]
    results = writer.write_all(ops, max_workers=2)
    assert [r for _, r in results] == [{"id": 41}, {"id": 7}] or [r for _, r in results] == [
        {"id": 42},
        {"id": 7},
    ]
    assert writer.requests == 2
    entries, _ = journal.pending()
    assert sorted((e.key, e.action) for e in entries) == [("CUS-1", "create"), ("CUS-2", "update")]

    refused = Writer(
        FakeHook(BudgetExhausted("Pipedrive", "low", remaining=1, reserve=5)), RESOLVED, journal, known, "r"
    )
    [(_, result)] = refused.write_all(ops[:1], max_workers=1)
    assert isinstance(result, BudgetExhausted) and refused.requests == 0  # refused before it was sent
    failing = Writer(FakeHook(ApiError("Pipedrive", "bad", status=400)), RESOLVED, journal, known, "r")
    failing.write_all(ops[:1], max_workers=1)
    assert failing.requests == 1


# -- the record ---------------------------------------------------------------------------------------------------
def test_record_counts_charges_and_skips_what_an_earlier_attempt_recorded(tmp_path: Path) -> None:
    area = StagingArea(str(tmp_path))
    record = LoadRecord(
        AuditTrail(area, dag_id="d", run_id="r", entity="customers"),
        LoadSummary(dag_id="d", run_id="r", entity="customers", mode="incremental", dry_run=False),
    )
    record.replayed(
        [JournalEntry("r", "organization", "CUS-1", "create", 1, "h", {"name": "A", "org_id": None})], "r"
    )
    record.settle(PlannedOp("organization", "CUS-1", "unchanged", 1))  # the re-run sees its own write
    record.settle(PlannedOp("organization", "CUS-2", "update", 2, changes=(Change("name", "A", "B"),)))
    record.settle(PlannedOp("organization", "CUS-3", "deferred", reason="later"), tokens=0)
    rows = record.audit.rows
    assert [(r["key"], r["action"], r["tokens"]) for r in rows] == [
        ("CUS-1", "create", write_cost("organization", "create")),
        ("CUS-2", "update", write_cost("organization", "update")),
        ("CUS-3", "deferred", 0),
    ]
    assert rows[0]["fields_changed"] == ["name"]
    counts = record.summary.organizations
    assert (counts.created, counts.updated, counts.unchanged, counts.deferred) == (1, 1, 0, 1)
    assert [op.key for op in record.carried()] == ["CUS-3"]


def test_record_stops_on_the_first_budget_error_and_says_why(tmp_path: Path) -> None:
    area = StagingArea(str(tmp_path))
    record = LoadRecord(
        AuditTrail(area, dag_id="d", run_id="r", entity="customers"),
        LoadSummary(dag_id="d", run_id="r", entity="customers", mode="incremental", dry_run=False),
    )
    assert not record.stopped
    first = BudgetExhausted("Pipedrive", "low", remaining=1, reserve=5)
    record.budget_exhausted("organization", first)
    record.budget_exhausted("person", BudgetExhausted("Pipedrive", "lower", remaining=0, reserve=5))
    assert record.stopped and record.budget_error is first and record.summary.budget_exhausted
    assert [r["action"] for r in record.audit.rows] == ["budget_exhausted"]
    record.carry_all("person", [person("CON-1")], {"CON-1": 9})
    deferred = list(record.carried())[-1]
    assert deferred.action == "deferred" and deferred.pipedrive_id == 9
    assert "budget exhausted" in deferred.reason
    record.stop(CredentialRejected("Pipedrive", "revoked", status=401))
    assert record.stopped_reason() == "not written: the load stopped (CredentialRejected)"


def test_only_a_create_with_an_unknown_outcome_is_looked_up() -> None:
    unknown = OutcomeUnknown("Pipedrive", "timed out; may have been applied, not resent")
    create = PlannedOp("organization", "CUS-1", "create", row=org())
    assert lost_create(create, unknown)
    assert not lost_create(create.but("update", "", 1), unknown)  # a PATCH is idempotent: it was retried
    assert not lost_create(create, ApiError("Pipedrive", "bad", status=400))  # refused: not applied
    assert not lost_create(create, {"id": 1})


def test_recent_changes_adopt_unknown_keys_and_name_duplicate_candidates() -> None:
    known = KnownState(identity={"organization": {"CUS-1": 1, "CUS-2": 2}, "person": {}})
    changes = Listing(identity={"CUS-1": 1, "CUS-2": 20, "CUS-3": 3}, conflicts={"CUS-4": [4, 40]})
    candidates, adopted = known.take_changes("organization", changes)
    assert adopted == {"CUS-3": 3} and known.identity["organization"]["CUS-3"] == 3
    assert candidates == {"CUS-2": [2, 20], "CUS-4": [4, 40]}  # CUS-1 under its own id is fine

    known.pushed["organization"]["CUS-2"] = Known({"name": "A"}, "h")
    # CUS-2's mapped record was deleted and made again: re-mapped; CUS-4 has two live records
    found = known.confirm_duplicates("organization", {"CUS-2": [20], "CUS-4": [4, 40]})
    assert found == {"CUS-4": [4, 40]}
    assert known.identity["organization"]["CUS-2"] == 20 and "CUS-2" not in known.pushed["organization"]
    inputs = known.plan_inputs("organization", mode="incremental", inactive_policy="update_status")
    assert inputs.conflicts == {"CUS-4": [4, 40]}  # never written to until merged
    assert known.plan_inputs("person", mode="incremental", inactive_policy="skip").org_conflicts == {
        "CUS-4": [4, 40]
    }
