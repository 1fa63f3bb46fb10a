"""Doctor's token-refresh check, shared by both connections: the refresh token is proven by a refresh.

The refresh runs exactly as the ``refresh_tokens`` task runs it (the hook's token source: the vault's lock,
the new state stored before the token is used), only forced, so a cached access token cannot hide a dead
refresh token. When the server rotates the refresh token the old one dies on use: the rotated one is then
in the vault, encrypted, and the line says so. That vault entry is the one thing doctor writes.
"""

from __future__ import annotations

from typing import Any, Protocol

from ml_connector.credentials.oauth import fingerprint
from ml_connector.onboarding.checks import Check, describe, fail, ok

NAME = "token refresh"


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
