"""OAuth2 refresh-token bookkeeping shared by the Workday and Pipedrive sandboxes.

Both real services exchange a long-lived refresh token (client authenticated by HTTP Basic or form
fields) for a short-lived bearer token; whether the refresh token rotates differs between sources, so
rotation is a switch. Each server wraps this state in its own route and error bodies.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Literal

AccessCheck = Literal["valid", "expired", "unknown"]


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    refresh_token: str
    expires_in: int


def client_from_basic(header: str | None) -> tuple[str, str] | None:
    """``(client_id, client_secret)`` from an ``Authorization: Basic`` header, if it holds one."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep else None


class TokenIssuer:
    """Valid refresh tokens, issued access tokens and their expiry; thread-safe."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        ttl_s: int = 3600,
        rotate: bool = False,
        access_prefix: str = "",
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.initial_refresh_token = refresh_token
        self.ttl_s = ttl_s
        self.rotate = rotate
        self.access_prefix = access_prefix
        self._lock = threading.Lock()
        self._refresh_tokens: set[str] = {refresh_token}
        self._access: dict[str, float] = {}
        self._issued: set[str] = set()  # every token handed out, kept across resets (secret scans)
        self.refresh_count = 0

    def client_ok(self, client_id: str | None, client_secret: str | None) -> bool:
        return secrets.compare_digest(client_id or "", self.client_id) and secrets.compare_digest(
            client_secret or "", self.client_secret
        )

    def refresh(self, refresh_token: str) -> IssuedToken | None:
        """Exchange a refresh token; ``None`` means ``invalid_grant`` (unknown, revoked or already used)."""
        with self._lock:
            if refresh_token not in self._refresh_tokens:
                return None
            self.refresh_count += 1
            if self.rotate:
                self._refresh_tokens.discard(refresh_token)
                refresh_token = f"{self.access_prefix}r-{secrets.token_hex(16)}"
                self._refresh_tokens.add(refresh_token)
            access = f"{self.access_prefix}{secrets.token_urlsafe(32)}"
            self._access[access] = time.time() + self.ttl_s
            self._issued.update((access, refresh_token))
            return IssuedToken(access, refresh_token, self.ttl_s)

    def secrets(self) -> set[str]:
        """The client secret and every refresh and access token this issuer ever knew."""
        with self._lock:
            return {self.client_secret, self.initial_refresh_token, *self._refresh_tokens, *self._issued}

    def check_access(self, token: str) -> AccessCheck:
        with self._lock:
            expiry = self._access.get(token)
        if expiry is None:
            return "unknown"
        return "valid" if time.time() < expiry else "expired"

    def expire_access_tokens(self) -> None:
        """Make every issued access token expired now (tests of refresh-on-401)."""
        with self._lock:
            self._access = {t: 0.0 for t in self._access}

    def revoke_refresh_tokens(self) -> None:
        """Invalidate every refresh token, as regenerating one in the admin UI does."""
        with self._lock:
            self._refresh_tokens.clear()

    def reset(self) -> None:
        with self._lock:
            self._refresh_tokens = {self.initial_refresh_token}
            self._access.clear()
            self.refresh_count = 0
