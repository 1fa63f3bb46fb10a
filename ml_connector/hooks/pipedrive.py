"""``PipedriveHook``: the Pipedrive connection, its credentials, pacing and budget, and a typed v2 API.

The hook owns the connection and nothing else: it knows how to talk to Pipedrive politely (never past
the burst window, never below the daily reserve, retrying only what retrying can fix) and returns
records as plain dicts. What records mean to Workday is the mapping layer's business.

Every call goes through one :class:`~ml_connector.http.client.HttpClient`; the burst and search
windows are shared by all hooks of the same connection and credential in the process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar, Unpack
from urllib.parse import urlsplit

import requests

from ml_connector.credentials.alerts import log_credential_alert
from ml_connector.hooks.base import HookOptions, SessionHook, oauth_valid_until, warn_if_unverified
from ml_connector.hooks.pipedrive_budget import TokenBudget
from ml_connector.hooks.pipedrive_config import PipedriveConfig, parse_connection
from ml_connector.hooks.pipedrive_http import (
    SYSTEM,
    Limiters,
    PipedriveClassifier,
    credential_fingerprint,
    operation,
    pause_if_spent,
    request_operation,
    shared_limiters,
)
from ml_connector.http.client import HeaderAuth, HttpClient, RequestAuth
from ml_connector.http.errors import ApiError
from ml_connector.http.pacing import MAX_IN_FLIGHT, WritePace
from ml_connector.pipedrive_limits import MAX_CUSTOM_FIELD_KEYS, MAX_PAGE_SIZE, daily_token_budget
from ml_connector.vocabulary import PLURAL, RecordKind

log = logging.getLogger(__name__)

PipedriveRecord = dict[str, Any]
T = TypeVar("T")
R = TypeVar("R")


def _plural(kind: str) -> str:
    """The API path segment of a record kind; anything else is a programming error, named."""
    if kind not in PLURAL:
        raise ValueError(f"record kind must be 'organization' or 'person', not {kind!r}")
    return PLURAL[kind]


def rfc3339(moment: datetime) -> str:
    """UTC, whole seconds (Pipedrive rejects fractions); a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Session:
    """What the hook builds lazily from its connection, once."""

    def __init__(
        self,
        config: PipedriveConfig,
        base_url: Callable[[], str],
        limiters: Limiters,
        budget: TokenBudget,
        client: HttpClient,
    ) -> None:
        self.config = config
        self.base_url = base_url
        self.limiters = limiters
        self.budget = budget
        self.client = client
        self.company_id: int | None = None

    def close(self) -> None:
        self.client.session.close()


class PipedriveHook(SessionHook[_Session]):
    """Pipedrive CRM through API v2 (v1 only for ``users/me`` and merges), paced under the plan's limits.

    :param pipedrive_conn_id: Airflow connection of type ``pipedrive``.
    :param retry_policy: how transient failures are retried (tests pass a fast one).
    :param vault: OAuth token vault; by default built from the environment when OAuth is used.
    """

    conn_name_attr = "pipedrive_conn_id"
    default_conn_name = "pipedrive_default"
    conn_type = "pipedrive"
    hook_name = "Pipedrive"

    def __init__(self, pipedrive_conn_id: str = default_conn_name, **options: Unpack[HookOptions]) -> None:
        super().__init__(**options)
        self.pipedrive_conn_id = pipedrive_conn_id

    def __repr__(self) -> str:
        return f"{type(self).__name__}(pipedrive_conn_id={self.pipedrive_conn_id!r})"

    # -- connection ------------------------------------------------------------------------------------
    @property
    def config(self) -> PipedriveConfig:
        return self._state().config

    def get_conn(self) -> HttpClient:
        """The paced, retrying HTTP client of this connection."""
        return self._state().client

    def _open_session(self) -> _Session:
        config = parse_connection(self.get_connection(self.pipedrive_conn_id))
        auth, fingerprint, base_url = self._auth(config)
        limiters = shared_limiters(config.auth_kind, config.plan, fingerprint)
        budget = TokenBudget(
            config.conn_id, daily_token_budget(config.plan, config.seats), config.budget_reserve
        )

        def on_response(response: requests.Response) -> None:
            op = request_operation(response)
            budget.observe(response, op)
            pause_if_spent(response, limiters, op)

        client = HttpClient(
            SYSTEM,
            classify=PipedriveClassifier(config.conn_id, config.auth_kind, config.budget_reserve),
            auth=auth,
            policy=self._retry_policy,
            limiter=limiters.burst,
            timeout_s=config.timeout,
            verify=config.verify_tls,
            on_response=on_response,
            on_rejected=log_credential_alert,
            pool_size=MAX_IN_FLIGHT,  # a connection for every call a load may have in flight
        )
        log.info(
            "Pipedrive connection '%s': %s, plan %s, %s",
            config.conn_id,
            config.base_url,
            config.plan,
            config.auth_kind,
        )
        warn_if_unverified("Pipedrive", config.conn_id, config.verify_tls)
        return _Session(config, base_url, limiters, budget, client)

    def _auth(self, config: PipedriveConfig) -> tuple[RequestAuth, str, Callable[[], str]]:
        """The request auth, a fingerprint of the credential, and where calls go."""
        if config.auth_kind == "api_token":
            assert config.api_token is not None  # the config validator guarantees it
            # pasted with a space or a newline, it would fail as a header and requests would echo it
            token = config.api_token.get_secret_value().strip()
            return HeaderAuth("x-api-token", token), credential_fingerprint(token), lambda: config.base_url
        assert config.client_id and config.client_secret is not None and config.refresh_token is not None
        refresh_token = config.refresh_token.get_secret_value()
        source = self._oauth_source(
            conn_id=config.conn_id,
            system=SYSTEM,
            token_url=config.oauth_url,
            client_id=config.client_id,
            client_secret=config.client_secret.get_secret_value(),
            refresh_token=refresh_token,
            timeout_s=config.timeout,
            verify=config.verify_tls,
        )

        def api_domain() -> str:
            """OAuth calls go to the token's ``api_domain``, the company's own host."""
            domain = source.token().extras.get("api_domain")
            return str(domain).rstrip("/") if domain else config.base_url

        return source, credential_fingerprint(f"{config.client_id}:{refresh_token}"), api_domain

    # -- the one call path -----------------------------------------------------------------------------
    def _call(self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None) -> Any:
        """Send one operation within the budget and the windows; return its ``data``-bearing JSON body."""
        return self._send(method, path, params=params, json=json).json()

    def _send(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None
    ) -> requests.Response:
        """:meth:`_call`'s request, answered: the response itself, headers and all."""
        state = self._state()
        op = operation(method, path)
        with state.budget.admit(op):
            return state.client.request(
                method,
                state.base_url() + path,
                what=f"{method} {path}",
                params=params,
                json=json,
                limiter=state.limiters.search if op.is_search else None,
                idempotent=method != "POST",
            )

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[tuple[Any, dict[str, Any]]]:
        """Follow ``additional_data.next_cursor`` until it is null; one page at a time."""
        cursor: str | None = None
        while True:
            body = self._call("GET", path, params={**params, **({"cursor": cursor} if cursor else {})})
            yield body.get("data"), body
            cursor = (body.get("additional_data") or {}).get("next_cursor")
            if not cursor:
                return

    # -- records ---------------------------------------------------------------------------------------
    def iter_pages(
        self,
        entity: RecordKind,
        *,
        updated_since: datetime | None = None,
        custom_fields: Sequence[str] | None = None,
        org_id: int | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[list[PipedriveRecord]]:
        """Every live record, a page at a time (only one page in memory), by cursor, oldest id first.

        ``custom_fields`` limits the custom fields returned (at most 15 keys); ``org_id`` (persons only)
        lists the persons of one organization.
        """
        plural = _plural(entity)
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1 to {MAX_PAGE_SIZE}, not {page_size}")
        params: dict[str, Any] = {"limit": page_size}
        if updated_since is not None:
            params["updated_since"] = rfc3339(updated_since)
        if custom_fields is not None:
            keys = list(custom_fields)
            if not keys or len(keys) > MAX_CUSTOM_FIELD_KEYS:
                raise ValueError(f"custom_fields takes 1 to {MAX_CUSTOM_FIELD_KEYS} keys, not {len(keys)}")
            params["custom_fields"] = ",".join(keys)
        if org_id is not None:
            if entity != "person":
                raise ValueError("org_id filters persons only")
            params["org_id"] = org_id
        for data, _ in self._pages(f"/api/v2/{plural}", params):
            yield list(data or [])

    def get(self, entity: RecordKind, record_id: int) -> PipedriveRecord | None:
        """One live record, or ``None`` if it does not exist or was deleted."""
        try:
            body = self._call("GET", f"/api/v2/{_plural(entity)}/{int(record_id)}")
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        return dict(body["data"])

    def create(self, entity: RecordKind, payload: dict[str, Any]) -> PipedriveRecord:
        """POST a new record (v2 body: custom fields under ``custom_fields``); returns it as stored."""
        return dict(self._call("POST", f"/api/v2/{_plural(entity)}", json=payload)["data"])

    def patch(self, entity: RecordKind, record_id: int, payload: dict[str, Any]) -> PipedriveRecord:
        """Change only the given fields of a record; returns it as stored."""
        path = f"/api/v2/{_plural(entity)}/{int(record_id)}"
        return dict(self._call("PATCH", path, json=payload)["data"])

    def merge(self, entity: RecordKind, record_id: int, into_id: int) -> int:
        """Merge record ``record_id`` into ``into_id`` (v1, 40 tokens: v2 has no merge); ``into_id``
        survives, keeps its own values, and an organization's persons move to it. Returns the survivor."""
        path = f"/v1/{_plural(entity)}/{int(record_id)}/merge"
        return int(self._call("PUT", path, json={"merge_with_id": int(into_id)})["data"]["id"])

    def delete(self, entity: RecordKind, record_id: int) -> None:
        """Soft delete (Pipedrive purges after 30 days); a missing record raises ``ApiError`` 404."""
        self._call("DELETE", f"/api/v2/{_plural(entity)}/{int(record_id)}")

    def search(
        self,
        entity: RecordKind,
        term: str,
        *,
        fields: Sequence[str] | None = None,
        exact_match: bool = True,
    ) -> list[dict[str, Any]]:
        """All hits as Pipedrive gives them: ``{"result_score": float, "item": {...}}``, best first.

        Search is paced separately (10 per 2 s) and costs 20 tokens a page; the index can lag behind
        recent writes, so it is no proof that a record is absent.
        """
        params: dict[str, Any] = {"term": term, "exact_match": "true" if exact_match else "false"}
        params["limit"] = MAX_PAGE_SIZE
        if fields:
            params["fields"] = ",".join(fields)
        hits: list[dict[str, Any]] = []
        for data, _ in self._pages(f"/api/v2/{_plural(entity)}/search", params):
            hits.extend((data or {}).get("items") or [])
        return hits

    # -- field definitions (v2 Fields API) -------------------------------------------------------------
    def list_fields(self, entity: RecordKind) -> list[dict[str, Any]]:
        """Every field definition (system and custom) with ``field_code``, ``field_type``, ``options``."""
        fields: list[dict[str, Any]] = []
        for data, _ in self._pages(f"/api/v2/{entity}Fields", {"limit": MAX_PAGE_SIZE}):
            fields.extend(data or [])
        return fields

    def create_field(
        self, entity: RecordKind, name: str, field_type: str, options: Sequence[str] | None = None
    ) -> dict[str, Any]:
        """A new custom field; ``options`` are the labels of an enum or set field."""
        _plural(entity)
        body: dict[str, Any] = {"field_name": name, "field_type": field_type}
        if options is not None:
            body["options"] = [{"label": label} for label in options]
        return dict(self._call("POST", f"/api/v2/{entity}Fields", json=body)["data"])

    def add_field_options(
        self, entity: RecordKind, field_code: str, labels: Sequence[str]
    ) -> list[dict[str, Any]]:
        """Add options to an enum/set field in one atomic call; returns the new ``{id, label}``."""
        _plural(entity)
        path = f"/api/v2/{entity}Fields/{field_code}/options"
        return list(self._call("POST", path, json=[{"label": label} for label in labels])["data"])

    def connect(self) -> None:
        """Parse the connection and set up its client now (before several threads call at once)."""
        self._state()

    def write_pace(self) -> WritePace:
        """The burst window's sustained rate and slots, and the latency this hook's calls have shown so
        far: what a writer needs to keep the window full (:func:`ml_connector.load.execute.concurrency_for`)."""
        state = self._state()
        burst = state.limiters.burst
        return WritePace(burst.rate_per_s, burst.limit, state.client.latency.value)

    @property
    def company_host(self) -> str:
        """The host calls go to: the company's own (``acme.pipedrive.com``) over OAuth, the connection's
        with an API token. What names the company in the load's Airflow Assets."""
        return urlsplit(self._state().base_url()).netloc

    # -- budget and health -----------------------------------------------------------------------------
    @property
    def tokens_spent(self) -> int:
        """Tokens this hook's calls cost (charged calls only)."""
        return self._state().budget.spent

    @property
    def daily_remaining(self) -> int:
        """The company's daily tokens left: as Pipedrive last reported, else the plan's budget minus spend."""
        return self._state().budget.remaining

    def usage(self) -> tuple[int, int, int] | None:
        """(tokens spent, daily tokens left, daily budget) of this hook, or None when it never connected."""
        if self._session is None:
            return None
        budget = self._session.budget
        return budget.spent, budget.remaining, budget.daily_limit

    def log_usage(self) -> str:
        """Log (info) and return a one-line summary of calls, tokens spent and the budget left."""
        summary = self._state().budget.summary()
        log.info("%s", summary)
        return summary

    def refresh_credentials(self, *, force: bool = False) -> str:
        """Fail fast before a run: an OAuth access token is made valid now (refreshed when near expiry, or
        at once with ``force``); an API token is checked with ``GET /v1/users/me``. Raises the hook's errors."""
        valid = oauth_valid_until("Pipedrive", self._state().client.auth, force=force)
        if valid is not None:
            return valid
        self._call("GET", "/v1/users/me")
        return "Pipedrive API token accepted"

    def whoami(self) -> tuple[dict[str, Any], dict[str, str]]:
        """``GET /v1/users/me`` (2 tokens): the credential's user, and the answer's rate-limit headers
        (``x-ratelimit-*``, ``x-daily-ratelimit-token-*``), which state the account's real limits."""
        response = self._send("GET", "/v1/users/me")
        limits = {k.lower(): v for k, v in response.headers.items() if "ratelimit" in k.lower()}
        return dict(response.json()["data"]), limits

    def company_id(self) -> int:
        """The Pipedrive company this connection writes to (``GET /v1/users/me``, 2 tokens, once per hook):
        connections to one company share its write lease."""
        state = self._state()
        if state.company_id is None:
            state.company_id = int(self._call("GET", "/v1/users/me")["data"]["company_id"])
        return state.company_id

    def test_connection(self) -> tuple[bool, str]:
        """Who the credential belongs to, via ``GET /v1/users/me`` (2 tokens)."""
        try:
            user = self._call("GET", "/v1/users/me")["data"]
        except Exception as exc:
            return False, str(exc)
        return True, (
            f"Connected to Pipedrive company '{user.get('company_name')}' "
            f"({user.get('company_domain')}) as user {user.get('id')}"
        )
