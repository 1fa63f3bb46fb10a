"""The encrypted token store: round trip, nothing readable on disk, atomic writes, key rotation, locking."""

from __future__ import annotations

import multiprocessing
import os
import stat
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, MultiFernet

from ml_connector.cli import main as cli_main
from ml_connector.credentials.keys import ENV_KEYS, VARIABLE_KEYS, KeyConfigError
from ml_connector.credentials.vault import STATE_DIR_ENV, TokenVault, VaultError

SECRET = "rt-very-secret-refresh-token-0123456789"
STATE = {"refresh_token": SECRET, "access_token": "at-secret-access", "expires_at": 1.5, "extras": {"a": 1}}


def _fernet(*keys: bytes) -> MultiFernet:
    return MultiFernet([Fernet(k) for k in keys])


@pytest.fixture()
def key() -> bytes:
    return Fernet.generate_key()


def test_round_trip_and_missing_entry(tmp_path: Path, key: bytes) -> None:
    vault = TokenVault(tmp_path / "credentials", _fernet(key))
    assert vault.read("workday_default") is None
    vault.write("workday_default", STATE)
    assert vault.read("workday_default") == STATE
    assert TokenVault(tmp_path / "credentials", _fernet(key)).read("workday_default") == STATE
    assert vault.read("pipedrive_default") is None


def test_disk_holds_no_plaintext_only_private_files_and_no_temp_files(tmp_path: Path, key: bytes) -> None:
    root = tmp_path / "credentials"
    vault = TokenVault(root, _fernet(key))
    for _ in range(3):
        vault.write("workday_default", STATE)
    with vault.lock("workday_default"):
        pass
    files = list(root.iterdir())
    entries = [p for p in files if p.suffix == ".fernet"]
    assert len(entries) == 1
    assert not [p for p in files if p.name.endswith(".tmp")]
    for path in files:
        data = path.read_bytes()
        assert (
            SECRET.encode() not in data and b"at-secret-access" not in data and b"refresh_token" not in data
        )
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(root.stat().st_mode) == 0o700


def test_failed_write_leaves_the_old_entry_and_no_temp_file(
    tmp_path: Path, key: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = TokenVault(tmp_path, _fernet(key))
    vault.write("c", STATE)

    def crash(src: object, dst: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        vault.write("c", {**STATE, "refresh_token": "other"})
    monkeypatch.undo()
    assert vault.read("c") == STATE
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".fernet"]


@pytest.mark.parametrize("conn_id", ["../../etc/passwd", "a/b", "..", "x" * 300, "wd default ✓"])
def test_file_names_stay_inside_the_root_and_do_not_collide(tmp_path: Path, key: bytes, conn_id: str) -> None:
    vault = TokenVault(tmp_path / "root", _fernet(key))
    path = vault.path_for(conn_id)
    assert path.parent == tmp_path / "root" and len(path.name) < 100
    assert vault.path_for(conn_id.replace(".", "_")) != path or "." not in conn_id
    vault.write(conn_id, STATE)
    assert vault.read(conn_id) == STATE


def test_wrong_key_is_a_clear_error_naming_the_connection_and_the_setting(tmp_path: Path, key: bytes) -> None:
    TokenVault(tmp_path, _fernet(key)).write("workday_default", STATE)
    with pytest.raises(VaultError, match="'workday_default'") as info:
        TokenVault(tmp_path, _fernet(Fernet.generate_key())).read("workday_default")
    assert ENV_KEYS in str(info.value) and VARIABLE_KEYS in str(info.value)
    assert SECRET not in str(info.value) and key.decode() not in str(info.value)


def test_from_environment_uses_the_state_dir_and_keys(
    tmp_path: Path, key: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path))
    monkeypatch.setenv(ENV_KEYS, key.decode())
    vault = TokenVault.from_environment()
    assert vault.root == tmp_path / "credentials"
    vault.write("c", STATE)
    assert TokenVault(tmp_path / "credentials", _fernet(key)).read("c") == STATE


def test_rotate_key_command_reencrypts_so_only_the_new_key_is_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    old_vault = TokenVault(tmp_path / "credentials", _fernet(old))
    for conn_id in ("workday_default", "pipedrive_default"):
        old_vault.write(conn_id, {**STATE, "conn": conn_id})
    monkeypatch.setenv(ENV_KEYS, f"{new.decode()},{old.decode()}")
    assert cli_main(["rotate-key", "--state-dir", str(tmp_path)]) == 0
    assert "re-encrypted 2 " in capsys.readouterr().out
    new_only = TokenVault(tmp_path / "credentials", _fernet(new))
    assert new_only.read("pipedrive_default") == {**STATE, "conn": "pipedrive_default"}
    with pytest.raises(VaultError):
        old_vault.read("workday_default")
    assert not [p for p in (tmp_path / "credentials").iterdir() if p.name.endswith(".tmp")]


def test_rotate_key_without_the_old_key_fails_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    TokenVault(tmp_path / "credentials", _fernet(Fernet.generate_key())).write("c", STATE)
    monkeypatch.setenv(ENV_KEYS, Fernet.generate_key().decode())
    assert cli_main(["rotate-key", "--state-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "cannot be decrypted" in err and "keep the old key" in err


def test_rotate_key_errors_for_a_missing_store_and_missing_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["rotate-key", "--state-dir", str(tmp_path / "nowhere")]) == 1
    assert "no credential store" in capsys.readouterr().err
    (tmp_path / "credentials").mkdir()
    monkeypatch.delenv(ENV_KEYS, raising=False)
    monkeypatch.setattr("ml_connector.credentials.keys._variable_keys", lambda: (None, None))
    assert cli_main(["rotate-key", "--state-dir", str(tmp_path)]) == 1
    assert ENV_KEYS in capsys.readouterr().err
    with pytest.raises(KeyConfigError):
        TokenVault.from_environment()


def _contend(root: str, key: bytes, log_path: str, barrier: multiprocessing.synchronize.Barrier) -> None:
    """Child process: enter the critical section a few times, logging entry and exit."""
    vault = TokenVault(Path(root), _fernet(key))
    barrier.wait()
    for _ in range(5):
        with vault.lock("workday_default"):
            fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            os.write(fd, f"enter {os.getpid()} {time.monotonic()}\n".encode())
            time.sleep(0.02)
            os.write(fd, f"exit {os.getpid()} {time.monotonic()}\n".encode())
            os.close(fd)


def test_lock_excludes_other_processes(tmp_path: Path, key: bytes) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    log_path = tmp_path / "log"
    procs = [
        ctx.Process(target=_contend, args=(str(tmp_path / "root"), key, str(log_path), barrier))
        for _ in range(2)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0
    events = [line.split() for line in log_path.read_text().splitlines()]
    assert len(events) == 20 and len({pid for _, pid, _ in events}) == 2
    for enter, leave in zip(events[::2], events[1::2], strict=True):
        assert (enter[0], leave[0], enter[1]) == ("enter", "exit", leave[1])
