"""``WorkdayHook``: the Workday connection, its credentials, and typed streaming reads of customers,
suppliers and their contacts over SOAP, REST or RaaS.

The hook owns the connection and nothing else: it pages politely (one page in flight per tenant by
default, ``As_Of_Entry_DateTime`` pinned for a consistent snapshot), retries only what retrying can
fix, and yields one page of typed records at a time so memory stays bounded by a page. What the
records mean to Pipedrive is the mapping layer's business.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal, TypeVar, Unpack

import requests

from ml_connector.credentials.alerts import log_credential_alert
from ml_connector.hooks import workday_records as records
from ml_connector.hooks import workday_xml as wx
from ml_connector.hooks.base import HookOptions, SessionHook, oauth_valid_until, warn_if_unverified
from ml_connector.hooks.workday_config import (
    REST_PAGE_MAX,
    EntitySource,
    Service,
    WorkdayConfig,
    parse_connection,
)
from ml_connector.hooks.workday_errors import (
    SYSTEM,
    JsonClassifier,
    PageAnswer,
    PagedScan,
    SoapClassifier,
    UnreadablePage,
    is_auth_fault,
    read_page,
)
from ml_connector.hooks.workday_isolate import read_around
from ml_connector.hooks.workday_reports import (
    DEFAULT_COLUMNS,
    RaasColumns,
    Row,
    raas_customer,
    raas_supplier,
    report_rows,
    rest_customer,
)
from ml_connector.hooks.workday_soap import SOAP_HEADERS, EnvelopeBuilder, load_wsdl
from ml_connector.http.client import HeaderAuth, HttpClient, RequestAuth
from ml_connector.http.errors import ApiError
from ml_connector.http.retry import RetryPolicy
from ml_connector.models.workday import WorkdayContact, WorkdayCustomer, WorkdaySupplier

log = logging.getLogger(__name__)

T = TypeVar("T")
REVENUE: Service = "Revenue_Management"
RESOURCE: Service = "Resource_Management"

_gates: dict[str, threading.BoundedSemaphore] = {}
_gates_lock = threading.Lock()


def tenant_gate(key: str, permits: int) -> threading.BoundedSemaphore:
    """The process-wide semaphore of one tenant: how many pages may be in flight against it."""
    with _gates_lock:
        gate = _gates.get(key)
        if gate is None:
            gate = _gates[key] = threading.BoundedSemaphore(permits)
        return gate


def workday_time(moment: datetime) -> str:
    """``2026-11-27T10:15:00.123+00:00``; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class SoapPage:
    """One page of a ``Get_*`` response: its record elements and where it sits in the result set."""

    page: int
    total_pages: int
    total_results: int
    as_of: datetime
    records: list[wx.Element]


class ServerClock:
    """How far the tenant's clock is from ours, by the HTTP ``Date`` of its latest answer (whole seconds:
    good to about a second plus the answer's travel time). Windows and snapshots are pinned by our clock."""

    def __init__(self) -> None:
        self.offset_s: float | None = None

    def observe(self, response: requests.Response) -> None:
        stated = response.headers.get("Date")
        if not stated:
            return
        try:
            moment = parsedate_to_datetime(stated)
        except (TypeError, ValueError):
            return
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        self.offset_s = (moment - datetime.now(UTC)).total_seconds()


class _Session:
    """What the hook builds lazily from its connection, once."""

    def __init__(self, config: WorkdayConfig, auth: RequestAuth | None, policy: RetryPolicy | None) -> None:
        self.config = config
        self.soap_classifier = SoapClassifier(config.conn_id, config.auth_kind)
        common: dict[str, Any] = {
            "policy": policy,
            "timeout_s": config.timeout,
            "verify": config.verify_tls,
            "pool_size": 2,
            "on_rejected": log_credential_alert,
        }
        self.clock = ServerClock()
        common["on_response"] = self.clock.observe
        self.soap = HttpClient(
            SYSTEM, classify=self.soap_classifier, auth=auth, is_unauthorized=is_auth_fault, **common
        )
        json_auth = auth
        if config.auth_kind == "isu":  # RaaS takes the ISU by HTTP Basic
            basic = base64.b64encode(f"{config.login}:{config.password.get_secret_value()}".encode()).decode()
            json_auth = HeaderAuth("Authorization", f"Basic {basic}")
        self.json = HttpClient(
            SYSTEM, classify=JsonClassifier(config.conn_id, config.auth_kind), auth=json_auth, **common
        )
        self.wsdl_http = HttpClient(SYSTEM, classify=JsonClassifier(config.conn_id, "wsdl"), **common)
        self.gate = tenant_gate(f"{config.base_url}/{config.tenant}", config.max_pages_in_flight)
        self._builders: dict[Service, EnvelopeBuilder] = {}
        self._lock = threading.Lock()

    def builder(self, service: Service) -> EnvelopeBuilder:
        with self._lock:
            builder = self._builders.get(service)
            if builder is None:
                c = self.config
                document = load_wsdl(c.wsdl_url(service), self.wsdl_http)
                isu = c.auth_kind == "isu"
                builder = self._builders[service] = EnvelopeBuilder(
                    document,
                    self.wsdl_http,
                    username=c.isu_username if isu else None,
                    password=c.password.get_secret_value() if isu else None,
                )
            return builder

    def close(self) -> None:
        for client in (self.soap, self.json, self.wsdl_http):
            client.session.close()


class WorkdayHook(SessionHook[_Session]):
    """Workday Financial Management customers, suppliers and contacts, read page by page.

    :param workday_conn_id: Airflow connection of type ``workday``.
    :param retry_policy: how transient failures are retried (tests pass a fast one).
    :param vault: OAuth token vault; by default built from the environment when OAuth is used.
    :param raas_columns: column aliases of the RaaS reports, when a tenant's reports differ.
    """

    conn_name_attr = "workday_conn_id"
    default_conn_name = "workday_default"
    conn_type = "workday"
    hook_name = "Workday"

    def __init__(
        self,
        workday_conn_id: str = default_conn_name,
        *,
        raas_columns: RaasColumns = DEFAULT_COLUMNS,
        **options: Unpack[HookOptions],
    ) -> None:
        super().__init__(**options)
        self.workday_conn_id = workday_conn_id
        self.raas_columns = raas_columns
        self._config: WorkdayConfig | None = None
        # (organization | person, record key, reason) of records that could not be read
        self.skipped_records: list[tuple[str, str, str]] = []

    def __repr__(self) -> str:
        return f"{type(self).__name__}(workday_conn_id={self.workday_conn_id!r})"

    # -- connection ------------------------------------------------------------------------------------
    @property
    def config(self) -> WorkdayConfig:
        """The validated connection, read once; building clients and credentials waits for the first call."""
        with self._lock:  # re-entrant: opening the session reads the config while holding it
            if self._config is None:
                self._config = parse_connection(self.get_connection(self.workday_conn_id))
            return self._config

    def get_conn(self) -> WorkdayConfig:
        """The validated connection settings (the hook's clients are internal)."""
        return self.config

    def _open_session(self) -> _Session:
        config = self.config
        session = _Session(config, self._auth(config), self._retry_policy)
        log.info(
            "Workday connection '%s': %s tenant %s, %s, API %s, customers from %s, suppliers from %s",
            config.conn_id,
            config.base_url,
            config.tenant,
            config.auth_kind,
            config.api_version,
            config.customers_source,
            config.suppliers_source,
        )
        warn_if_unverified("Workday", config.conn_id, config.verify_tls)
        return session

    def _auth(self, config: WorkdayConfig) -> RequestAuth | None:
        """OAuth bearer for every call, or None for an ISU (WS-Security in the envelope, Basic for RaaS)."""
        if config.auth_kind == "isu":
            return None
        assert config.refresh_token is not None  # the config validator guarantees it
        return self._oauth_source(
            conn_id=config.conn_id,
            system=SYSTEM,
            token_url=config.token_url,
            client_id=config.login,
            client_secret=config.password.get_secret_value(),
            refresh_token=config.refresh_token.get_secret_value(),
            timeout_s=min(config.timeout, 60.0),
            verify=config.verify_tls,
        )

    @contextmanager
    def _page_slot(self) -> Iterator[None]:
        gate = self._state().gate
        with gate:
            yield

    # -- SOAP ------------------------------------------------------------------------------------------
    def iter_soap_pages(
        self,
        service: Service,
        operation: str,
        record: str,
        *,
        request_criteria: dict[str, Any] | None = None,
        response_group: dict[str, Any] | None = None,
        as_of: datetime | None = None,
        count: int | None = None,
    ) -> Generator[SoapPage, None, None]:
        """Page through a ``Get_*`` operation with ``As_Of_Entry_DateTime`` pinned for every page.

        The pin is the run's start (or ``as_of``); when page 1 echoes the same instant with more
        precision, the echo is used from then on. Stops after ``Total_Pages``. ``count`` overrides
        the connection's page size and is sent as given (Workday validates it). A page that contradicts
        itself or the request raises :class:`InconsistentPage`, one whose result set differs from the
        first page's :class:`ResultSetChanged`: records are never silently lost or read twice.
        """
        state = self._state()
        config = state.config
        builder = state.builder(service)
        url = config.soap_url(service)
        started = as_of or datetime.now(UTC)
        pinned_text = workday_time(started)
        pinned = _parse_time(pinned_text) or started
        params: dict[str, Any] = {}
        if request_criteria:
            params["Request_Criteria"] = request_criteria
        if response_group:
            params["Response_Group"] = response_group
        size = count if count is not None else config.page_size

        def fetch_page(page: int, count: int) -> PageAnswer:
            body = builder.build(
                operation,
                **params,
                Response_Filter={"As_Of_Entry_DateTime": pinned_text, "Page": page, "Count": count},
            )
            with self._page_slot():
                response = state.soap.request(
                    "POST", url, what=f"{operation} page {page}", data=body, headers=SOAP_HEADERS
                )
                payload = wx.body_payload(state.soap_classifier.envelope(response))
            return read_page(payload, operation, record, page=page, count=count)

        def fetch(page: int, count: int) -> wx.Element:
            return fetch_page(page, count).payload

        scan = PagedScan(operation, record)
        page, total_pages = 1, 1
        while page <= total_pages:
            try:
                answer = self._read_twice(fetch_page, page, size)
            except UnreadablePage:
                around = read_around(fetch, record, start=(page - 1) * size, length=size, size=size)
                for element, problem in around.unreadable:
                    self._skip(element, problem, kind=record)
                known = scan.check_total(page, around.total_results)
                # every record of the page unreadable and no size known yet: the next page tells it
                total_pages = -(-known // size) if known is not None else page + 1
                scan.check_records(page, around.records)
                log.warning(
                    "%s page %d is not well-formed XML: read around it, %d record(s) set aside",
                    operation,
                    page,
                    len(around.unreadable),
                )
                yield SoapPage(page, total_pages, known or 0, pinned, around.records)
                page += 1
                continue
            scan.check_total(page, answer.total_results)
            scan.check_records(page, answer.records)
            total_pages = answer.total_pages
            if page == 1:
                echoed_text = wx.text(answer.payload, "Response_Filter/As_Of_Entry_DateTime")
                echoed = _parse_time(echoed_text)
                if (
                    echoed_text
                    and echoed
                    and echoed.replace(microsecond=echoed.microsecond // 1000 * 1000) == pinned
                ):
                    pinned_text, pinned = echoed_text, echoed
            found = answer.records
            del answer
            log.debug("%s page %d/%d: %d records", operation, page, total_pages, len(found))
            yield SoapPage(page, total_pages, scan.total_results or 0, pinned, found)
            page += 1

    @staticmethod
    def _read_twice(fetch: Callable[[int, int], T], page: int, size: int) -> T:
        """A page; one that is not well-formed is read once more, in case its body was cut in transit."""
        try:
            return fetch(page, size)
        except UnreadablePage:
            return fetch(page, size)

    def _soap_records(
        self,
        pages: Iterator[SoapPage],
        convert: Callable[[wx.Element, datetime], T | None],
    ) -> Iterator[list[T]]:
        for page in pages:
            batch: list[T] = []
            for element in page.records:
                try:
                    record = convert(element, page.as_of)
                except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
                    self._skip(element, exc)
                    continue
                if record is None:  # counted in the page's results: set aside with a reason, never dropped
                    self._skip(element, ValueError(f"{wx.local(element)} has no data or ID to read"))
                    continue
                batch.append(record)
            if batch:
                yield batch

    def _skip(self, element: wx.Element | None, exc: Exception, *, kind: str = "") -> None:
        """One unreadable record is set aside with its IDs and the reason; the rest of the page goes on."""
        ids = wx.ids(element[0]) if element is not None and len(element) else {}
        key = next((v for k, v in ids.items() if k != "WID"), None) or ids.get("WID") or "unknown"
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        tag = str(element.tag) if element is not None else kind
        record_kind = "person" if tag.endswith("Business_Entity_Contact") else "organization"
        self.skipped_records.append((record_kind, key, reason))
        log.warning("skipped Workday record %s that could not be read (%s)", key, reason)

    # -- JSON (REST, RaaS) -----------------------------------------------------------------------------
    def _json(self, url: str, what: str, params: dict[str, Any]) -> Any:
        state = self._state()
        with self._page_slot():
            response = state.json.request("GET", url, what=what, params=params)
        try:
            return response.json()
        except ValueError:
            raise ApiError(SYSTEM, f"{what}: the response is not JSON", status=response.status_code) from None

    def _raas_rows(self, source: EntitySource, start: datetime | None, end: datetime | None) -> list[Row]:
        c = self.raas_columns
        params: dict[str, Any] = {"format": "json"}
        if start is not None:
            params[c.prompt_from] = workday_time(start)
        if end is not None:
            params[c.prompt_to] = workday_time(end)
        body = self._json(self.config.raas_url(source), f"report {source.owner}/{source.report}", params)
        try:
            return report_rows(body)
        except ValueError as exc:
            raise ApiError(SYSTEM, f"report {source.report}: {exc}") from None

    def _chunks(self, items: list[T]) -> Iterator[list[T]]:
        size = self.config.page_size
        for start in range(0, len(items), size):
            yield items[start : start + size]

    # -- public reads ----------------------------------------------------------------------------------
    def iter_customers(
        self, updated_from: datetime | None = None, updated_to: datetime | None = None
    ) -> Iterator[list[WorkdayCustomer]]:
        """All customers (SOAP, REST: a full scan) or those updated in ``[from, to)`` (RaaS), a page at a time."""
        source = self.config.customers_source
        if source.kind == "raas":
            yield from self._raas_customers(source, updated_from, updated_to)
            return
        if updated_from is not None or updated_to is not None:
            log.info("customers from %s: the API has no updated-since filter; reading all customers", source)
        if source.kind == "rest":
            yield from self._rest_customers()
            return
        pages = self.iter_soap_pages(
            REVENUE,
            "Get_Customers",
            "Customer",
            response_group={"Include_Reference": True, "Include_Customer_Data": True},
        )
        yield from self._soap_records(pages, records.customer)

    def _raas_customers(
        self, source: EntitySource, start: datetime | None, end: datetime | None
    ) -> Iterator[list[WorkdayCustomer]]:
        as_of = datetime.now(UTC)
        rows = self._raas_rows(source, start, end)
        converted = [c for c in (raas_customer(r, as_of, self.raas_columns) for r in rows) if c is not None]
        del rows
        yield from self._chunks(converted)

    def _rest_customers(self) -> Iterator[list[WorkdayCustomer]]:
        url = self.config.rest_customers_url
        limit = min(self.config.page_size, REST_PAGE_MAX)
        as_of = datetime.now(UTC)
        offset, total = 0, 1
        while offset < total:
            body = self._json(url, f"customers offset {offset}", {"limit": limit, "offset": offset})
            if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise ApiError(SYSTEM, "customers: the response has no 'data' list")
            total = int(body.get("total") or 0)
            data = body["data"]
            batch = [
                c for c in (rest_customer(v, as_of) for v in data if isinstance(v, dict)) if c is not None
            ]
            if batch:
                yield batch
            if not data:
                break
            offset += len(data)

    def iter_suppliers(
        self, updated_from: datetime | None = None, updated_to: datetime | None = None
    ) -> Iterator[list[WorkdaySupplier]]:
        """Suppliers updated in ``[from, to)`` (all when both are None), a page at a time."""
        source = self.config.suppliers_source
        if source.kind == "raas":
            as_of = datetime.now(UTC)
            rows = self._raas_rows(source, updated_from, updated_to)
            converted = [s for s in (raas_supplier(r, as_of, self.raas_columns) for r in rows) if s]
            del rows
            yield from self._chunks(converted)
            return
        criteria: dict[str, Any] = {}
        if updated_from is not None:
            criteria["Updated_From_Date"] = workday_time(updated_from)
        if updated_to is not None:
            criteria["Updated_To_Date"] = workday_time(updated_to)
        pages = self.iter_soap_pages(
            RESOURCE,
            "Get_Suppliers",
            "Supplier",
            request_criteria=criteria or None,
            response_group={"Include_Reference": True},
        )
        yield from self._soap_records(pages, records.supplier)

    def iter_contacts(self) -> Iterator[list[WorkdayContact]]:
        """Every business entity contact (the request has no criteria); join on customer_id/supplier_id."""
        pages = self.iter_soap_pages(
            REVENUE,
            "Get_Business_Entity_Contacts",
            "Business_Entity_Contact",
            response_group={"Include_Reference": True},
        )
        yield from self._soap_records(pages, records.contact)

    def refresh_credentials(self, *, force: bool = False) -> str:
        """Fail fast before a run: an OAuth access token is made valid now (refreshed when near expiry, or
        at once with ``force``); an ISU is checked with the smallest SOAP read. Raises the hook's errors,
        never returns a secret."""
        valid = oauth_valid_until("Workday", self._state().soap.auth, force=force)
        if valid is not None:
            return valid
        next(self.iter_soap_pages(REVENUE, "Get_Customers", "Customer", count=1))
        return "Workday Integration System User accepted"

    def check_wsdl(self, service: Service) -> str:
        """Load the WSDL of ``service`` (once per process) and ready its envelopes; returns where it came
        from. Raises :class:`ApiError` when it cannot be fetched or read."""
        self._state().builder(service)
        return self.config.wsdl_url(service)

    def count_records(self, what: Literal["customers", "suppliers", "contacts"]) -> tuple[str, int | None]:
        """One smallest read of where ``what`` comes from: the operation (or report) asked, and how many
        records it holds: SOAP's ``Total_Results`` (one record fetched), REST's ``total``, a report's rows."""
        source = (
            EntitySource(kind="soap")
            if what == "contacts"
            else (self.config.customers_source if what == "customers" else self.config.suppliers_source)
        )
        if source.kind == "raas":
            return f"report {source.owner}/{source.report}", len(self._raas_rows(source, None, None))
        if source.kind == "rest":
            body = self._json(self.config.rest_customers_url, "customers probe", {"limit": 1, "offset": 0})
            total = body.get("total") if isinstance(body, dict) else None
            return "REST customers", int(total) if total is not None else None
        service, operation, record = {
            "customers": (REVENUE, "Get_Customers", "Customer"),
            "suppliers": (RESOURCE, "Get_Suppliers", "Supplier"),
            "contacts": (REVENUE, "Get_Business_Entity_Contacts", "Business_Entity_Contact"),
        }[what]
        pages = self.iter_soap_pages(service, operation, record, count=1)
        try:
            return operation, next(pages).total_results
        finally:
            pages.close()

    def clock_offset_s(self) -> float | None:
        """Seconds the tenant's clock is ahead of ours (negative: behind) by its latest answer's HTTP
        ``Date``; None before any answer or when Workday sent no Date."""
        session = self._session
        return session.clock.offset_s if session is not None else None

    def test_connection(self) -> tuple[bool, str]:
        """One smallest read per configured source; never raises, never prints a secret."""
        try:
            config = self.config
            found = []
            for label, source in (
                ("customers", config.customers_source),
                ("suppliers", config.suppliers_source),
            ):
                found.append(f"{label} via {source}: {self._probe(label, source)}")
            return True, f"Connected to Workday tenant '{config.tenant}' ({'; '.join(found)})"
        except Exception as exc:
            return False, f"{type(exc).__name__}: {exc}"

    def _probe(self, label: str, source: EntitySource) -> str:
        if source.kind == "raas":
            return f"{len(self._raas_rows(source, None, None))} rows"
        if source.kind == "rest":
            body = self._json(self.config.rest_customers_url, "customers probe", {"limit": 1, "offset": 0})
            return f"{body.get('total', '?')} records" if isinstance(body, dict) else "answered"
        service, operation, record = (
            (REVENUE, "Get_Customers", "Customer")
            if label == "customers"
            else (RESOURCE, "Get_Suppliers", "Supplier")
        )
        pages = self.iter_soap_pages(service, operation, record, count=1)
        try:
            return f"{next(pages).total_results} records"
        finally:
            pages.close()
