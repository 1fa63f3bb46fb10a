"""Where the Fernet keys come from, and the errors an operator sees when they are missing or wrong."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from ml_connector.credentials import keys
from ml_connector.credentials.keys import ENV_KEYS, VARIABLE_KEYS, KeyConfigError, load_fernet


@pytest.fixture(autouse=True)
def _no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_KEYS, raising=False)
    monkeypatch.delenv(f"AIRFLOW_VAR_{VARIABLE_KEYS.upper()}", raising=False)


def test_env_keys_encrypt_with_the_first_and_decrypt_with_any(monkeypatch: pytest.MonkeyPatch) -> None:
    new, old = Fernet.generate_key(), Fernet.generate_key()
    monkeypatch.setenv(ENV_KEYS, f" {new.decode()} , {old.decode()} ")
    fernet = load_fernet()
    assert Fernet(new).decrypt(fernet.encrypt(b"x")) == b"x"
    assert fernet.decrypt(Fernet(old).encrypt(b"y")) == b"y"


def test_airflow_variable_is_used_when_the_env_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    # The environment-variables secrets backend: the same lookup path as Vault or a cloud secret manager.
    key = Fernet.generate_key()
    monkeypatch.setenv(f"AIRFLOW_VAR_{VARIABLE_KEYS.upper()}", key.decode())
    assert Fernet(key).decrypt(load_fernet().encrypt(b"z")) == b"z"


def test_missing_key_names_both_settings_and_how_to_generate_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys, "_variable_keys", lambda: (None, None))
    with pytest.raises(KeyConfigError) as info:
        load_fernet()
    message = str(info.value)
    assert ENV_KEYS in message and VARIABLE_KEYS in message
    assert "Fernet.generate_key()" in message


def test_failing_variable_lookup_still_gives_the_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk import Variable

    def broken(*args: object, **kwargs: object) -> str:
        raise ConnectionError("secrets backend unreachable")

    monkeypatch.setattr(Variable, "get", broken)
    with pytest.raises(KeyConfigError, match=f"{ENV_KEYS}.*{VARIABLE_KEYS}") as info:
        load_fernet()
    assert "ConnectionError" in str(info.value)


@pytest.mark.parametrize("bad", ["not-a-key", "c2hvcnQ=", "{good},not-valid-key-text"])
def test_invalid_key_names_the_setting_and_never_echoes_the_key(
    monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    text = bad.format(good=Fernet.generate_key().decode())
    monkeypatch.setenv(ENV_KEYS, text)
    with pytest.raises(KeyConfigError, match=ENV_KEYS) as info:
        load_fernet()
    for part in text.split(","):
        assert part not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
