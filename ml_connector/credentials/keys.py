"""The Fernet keys that encrypt stored token state.

Keys come from ``ML_CONNECTOR_FERNET_KEYS`` (comma-separated, newest first) or, when that is unset,
from the Airflow Variable ``ml_connector_fernet_keys``; Airflow looks a Variable up in the configured
secrets backend before the metadata DB, so a key can live in Vault or a cloud secret manager. A
MultiFernet encrypts with the first key and decrypts with any, which is what makes key rotation safe.
"""

from __future__ import annotations

import logging
import os

from cryptography.fernet import Fernet, MultiFernet

from ml_connector.errors import ConnectorError, Remedy

log = logging.getLogger(__name__)

ENV_KEYS = "ML_CONNECTOR_FERNET_KEYS"
VARIABLE_KEYS = "ml_connector_fernet_keys"
GENERATE_KEY_COMMAND = (
    'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)
KEY_SETTINGS = f"the environment variable {ENV_KEYS} or the Airflow Variable {VARIABLE_KEYS}"


class KeyConfigError(ConnectorError, RuntimeError):
    """No usable Fernet key is configured; the message says where to put one. It never shows a key."""

    remedy = Remedy.PERSON


def load_fernet() -> MultiFernet:
    """The configured keys as a MultiFernet (primary first); raises :class:`KeyConfigError` if there are none."""
    text = os.environ.get(ENV_KEYS, "").strip()
    if text:
        return parse_keys(text, f"environment variable {ENV_KEYS}")
    stored, failure = _variable_keys()
    if stored:
        return parse_keys(stored, f"Airflow Variable {VARIABLE_KEYS}")
    why = f" (looking up the Variable failed: {failure})" if failure else ""
    raise KeyConfigError(
        f"No encryption key for the ml-connector credential store{why}. Set {KEY_SETTINGS} "
        f"(comma-separated Fernet keys, newest first). Generate a key with: {GENERATE_KEY_COMMAND}"
    )


def parse_keys(text: str, source: str) -> MultiFernet:
    """Comma-separated Fernet keys into a MultiFernet; a malformed key is reported by position only."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise KeyConfigError(f"{source} holds no key. Generate one with: {GENERATE_KEY_COMMAND}")
    keys: list[Fernet] = []
    for position, part in enumerate(parts, start=1):
        try:
            keys.append(Fernet(part))
        except (ValueError, TypeError):
            # ``from None``: the underlying error must not carry the key text into a traceback.
            raise KeyConfigError(
                f"{source}: key {position} of {len(parts)} is not a valid Fernet key "
                f"(32 url-safe base64-encoded bytes). Generate one with: {GENERATE_KEY_COMMAND}"
            ) from None
    return MultiFernet(keys)


def _variable_keys() -> tuple[str | None, str | None]:
    """``(value, failure)`` of the Airflow Variable; a missing Airflow or a failing backend is not fatal here."""
    try:
        from airflow.sdk import Variable

        value = Variable.get(VARIABLE_KEYS, default=None)
    except Exception as exc:  # import errors, an unreachable secrets backend or API server
        log.debug("Airflow Variable %s could not be read: %s", VARIABLE_KEYS, type(exc).__name__)
        return None, type(exc).__name__
    if value is None:
        return None, None
    return str(value).strip() or None, None
