"""What a load saves when it ends: the identity map merged with what the other DAG wrote meanwhile."""

from __future__ import annotations

from ml_connector.load.state import merged_identity


def test_a_load_that_did_not_list_keeps_the_keys_the_other_dag_added() -> None:
    on_disk = {"CUS-1": 1, "CUS-2": 2, "CUS-9": 9}  # CUS-9: written by the suppliers DAG meanwhile
    ours = {"CUS-1": 1, "CUS-2": 2, "CUS-3": 3}
    assert merged_identity(on_disk, ours, listed=False) == {"CUS-1": 1, "CUS-2": 2, "CUS-3": 3, "CUS-9": 9}


def test_a_deleted_record_is_forgotten_even_if_the_file_still_has_it() -> None:
    assert merged_identity({"CUS-1": 1, "CUS-2": 2}, {"CUS-1": 1}, listed=False, forgotten=["CUS-2"]) == {
        "CUS-1": 1
    }


def test_a_load_that_listed_pipedrive_saves_exactly_what_it_found() -> None:
    assert merged_identity({"CUS-1": 1, "CUS-7": 7}, {"CUS-1": 11}, listed=True) == {"CUS-1": 11}
