"""Doctor's token-refresh check, shared by both connections: the refresh token is proven by a refresh.

The refresh runs exactly as the ``refresh_tokens`` task runs it (the hook's token source: the vault's lock,
the new state stored before the token is used), only forced, so a cached access token cannot hide a dead
refresh token. When the server rotates the refresh token the old one dies on use: the rotated one is then
in the vault, encrypted, and the line says so. That vault entry is the one thing doctor writes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from pydantic import SecretStr

from ml_connector.credentials.oauth import fingerprint
from ml_connector.onboarding.checks import Check, describe, fail, ok

NAME = "token refresh"
Config = TypeVar("Config")


class Refreshing(Protocol):
    def refresh_credentials(self, *, force: bool = False) -> str: ...


def _stored(conn_id: str) -> dict[str, Any] | None:
    from ml_connector.credentials.vault import TokenVault

    return TokenVault.from_environment().read(conn_id)


def refresh_check(area: str, hook: Refreshing, conn_id: str, seed_refresh_token: str) -> Check:
    """Refresh now and tell what happened: valid until when, and whether the refresh token rotated."""
    from ml_connector.credentials.vault import TokenVault

    try:
        before = _stored(conn_id)
        valid = hook.refresh_credentials(force=True)
        after = _stored(conn_id)
    except Exception as exc:
        return fail(area, NAME, describe(exc))
    seed = fingerprint(seed_refresh_token)
    grown = before is not None and before.get("seed_fingerprint") == seed and before.get("refresh_token")
    previous = str(before["refresh_token"]) if grown and before is not None else seed_refresh_token
    where = TokenVault.from_environment().path_for(conn_id)
    if after is not None and after.get("refresh_token") and after["refresh_token"] != previous:
        return ok(
            area,
            NAME,
            f"{valid}; the server rotated the refresh token (the old one is dead) and the new one is stored "
            f"encrypted in the token vault ({where}), where every task reads it; the connection's "
            "refresh_token only seeds the vault and needs no change",
        )
    return ok(
        area, NAME, f"{valid}; the refresh token was not rotated; the new access token is cached in {where}"
    )


def connected(
    area: str, conn_id: str, read: Callable[[], Config], summary: Callable[[Config], str], checks: list[Check]
) -> Config | None:
    """The connection parsed (``read``), as a check saying what it is (``summary``); None, after a failed
    check, when it cannot be."""
    try:
        config = read()
    except Exception as exc:
        checks.append(
            fail(area, "connection", describe(exc), f"create or fix the Airflow connection '{conn_id}'")
        )
        return None
    checks.append(ok(area, "connection", summary(config)))
    return config


def refreshed(
    area: str, hook: Refreshing, conn_id: str, refresh_token: SecretStr | None, checks: list[Check]
) -> bool:
    """An OAuth connection's token refresh as a check (``refresh_token`` None: not OAuth, nothing to
    check); False when it failed."""
    if refresh_token is None:
        return True
    check = refresh_check(area, hook, conn_id, refresh_token.get_secret_value())
    checks.append(check)
    return check.status != "fail"
