"""What a Workday response means, decided by HTTP status first and only then by the body.

SOAP: every fault is HTTP 500. ``Client.validationError`` never heals (an :class:`ApiError` with each
``Validation_Error``), ``Client.authenticationError`` is a credential problem (an expired bearer is
refreshed by the client first, then :class:`CredentialRejected`), a processing fault saying the task is
not authorized is a missing permission (an :class:`ApiError`), any other fault - Workday answers
throttling with ``Server.processingError`` - and a 500 that is not a SOAP fault are transient.
REST and RaaS: 429 and 5xx are transient, 401 is a credential problem, other 4xx are final.

A usable ``Get_*`` page must also agree with itself and with the request (:func:`read_page`), and the
pages of one scan with each other (:class:`PagedScan`): a page that does not is an error naming the page
and what disagreed, never records silently lost or read twice.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from decimal import Decimal

import requests
from lxml import etree

from ml_connector.errors import Remedy
from ml_connector.hooks import workday_xml as wx
from ml_connector.hooks.workday_records import record_key
from ml_connector.http.errors import ApiError, CredentialRejected, TransientError

SYSTEM = "workday"
# Workday's processing fault for an operation the account may not run ("The task submitted is not
# authorized."); other processing faults (throttling) heal by waiting, this one never does.
NOT_AUTHORIZED = "not authorized"
TRANSIENT_STATUS = frozenset({429, 502, 503, 504})
_SNIPPET = 200


@dataclass(frozen=True)
class ValidationIssue:
    message: str | None
    detail_message: str | None
    xpath: str | None

    def __str__(self) -> str:
        parts = [self.message or ""]
        if self.detail_message and self.detail_message != self.message:
            parts.append(self.detail_message)
        if self.xpath:
            parts.append(f"at {self.xpath}")
        return " - ".join(p for p in parts if p)


class WorkdayValidationError(ApiError):
    """``SOAP-ENV:Client.validationError``: the request is wrong; the API's messages and Xpaths kept."""

    def __init__(self, message: str, issues: tuple[ValidationIssue, ...], *, status: int) -> None:
        detail = "; ".join(str(i) for i in issues) or None
        super().__init__(SYSTEM, message, status=status, detail=detail)
        self.issues = issues


@dataclass(frozen=True)
class SoapFault:
    code: str  # local part, e.g. "Client.validationError"
    message: str
    issues: tuple[ValidationIssue, ...]


def soap_fault(root: wx.Element) -> SoapFault | None:
    payload = wx.body_payload(root)
    if payload is None or wx.local(payload) != "Fault":
        return None
    code = wx.text(payload, "faultcode") or ""
    issues = tuple(
        ValidationIssue(wx.text(e, "Message"), wx.text(e, "Detail_Message"), wx.text(e, "Xpath"))
        for e in payload.iter()
        if wx.local(e) == "Validation_Error"
    )
    message = wx.text(payload, "faultstring") or code or "SOAP fault"
    processing = next((e for e in payload.iter() if wx.local(e) == "Processing_Fault"), None)
    if processing is not None and not issues:
        detail = wx.text(processing, "Detail_Message")
        if detail and detail not in message:
            message = f"{message} ({detail})"
    return SoapFault(code.rpartition(":")[2], message, issues)


def is_auth_fault(response: requests.Response) -> bool:
    """Workday's SOAP "unauthorized": HTTP 500 carrying ``Client.authenticationError``."""
    if response.status_code != 500 or b"authenticationError" not in response.content:
        return False
    try:
        fault = soap_fault(wx.parse(response.content))
    except (etree.XMLSyntaxError, ApiError):
        return False
    return fault is not None and fault.code == "Client.authenticationError"


def _retry_after(response: requests.Response) -> float | None:
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None


class UnreadablePage(ApiError):
    """A complete 200 response that is not well-formed XML: the same request gets the same bytes, so it is
    not retried as transient. The hook reads the page again once (a cut body), then in smaller pages until
    the records that cannot be parsed are alone (:mod:`ml_connector.hooks.workday_isolate`)."""

    def __init__(self, message: str, body: bytes) -> None:
        super().__init__(SYSTEM, message, status=200)
        self.body = body  # kept for the hook to find the IDs of a lone bad record; never in the message


class SoapClassifier:
    """Classifies a SOAP response; a usable body is parsed once here and handed to the caller.

    The parse happens here, before the caller sees the response; :meth:`envelope` returns the parsed tree
    of the response just classified.
    """

    def __init__(self, conn_id: str, auth_kind: str) -> None:
        self.conn_id = conn_id
        self.auth_kind = auth_kind
        self._last = threading.local()

    def __call__(self, response: requests.Response) -> None:
        status = response.status_code
        if status in TRANSIENT_STATUS:
            raise TransientError(
                SYSTEM, f"HTTP {status}", status=status, retry_after_s=_retry_after(response)
            )
        if status == 500:
            self._fault_500(response)
        if not 200 <= status < 300:
            raise ApiError(SYSTEM, f"unexpected HTTP {status}", status=status, detail=_snippet(response))
        try:
            root = wx.parse(response.content)
        except etree.XMLSyntaxError as exc:
            raise UnreadablePage(
                f"the SOAP response is not well-formed XML ({exc.msg})", response.content
            ) from None
        fault = soap_fault(root)
        if fault is not None:
            self._raise_fault(fault, status)
        if wx.body_payload(root) is None:
            raise ApiError(SYSTEM, "the response is not a SOAP envelope with a body", status=status)
        self._last.pair = (response, root)

    def envelope(self, response: requests.Response) -> wx.Element:
        pair = getattr(self._last, "pair", None)
        if pair is not None and pair[0] is response:
            self._last.pair = None
            return pair[1]
        return wx.parse(response.content)

    def _fault_500(self, response: requests.Response) -> None:
        try:
            fault = soap_fault(wx.parse(response.content))
        except (etree.XMLSyntaxError, wx.UnsafeXml):
            fault = None
        if fault is None:  # a load balancer's page, or throttling without a fault
            raise TransientError(SYSTEM, "HTTP 500 without a SOAP fault", status=500)
        self._raise_fault(fault, 500)

    def _raise_fault(self, fault: SoapFault, status: int) -> None:
        if fault.code == "Client.validationError":
            raise WorkdayValidationError(fault.message, fault.issues, status=status)
        if fault.code == "Client.authenticationError":
            raise CredentialRejected(SYSTEM, self._auth_advice(fault.message), status=status)
        if NOT_AUTHORIZED in fault.message.casefold():  # a processing fault that never heals
            raise ApiError(
                SYSTEM,
                f"connection '{self.conn_id}': Workday refused the operation ({fault.message}); the account "
                "behind the connection lacks a permission: give its security group Get access to the "
                "operation's domain (Workday task: View Security for Securable Item), then Activate "
                "Pending Security Policy Changes",
                status=status,
            )
        raise TransientError(SYSTEM, f"{fault.code}: {fault.message}", status=status)

    def _auth_advice(self, message: str) -> str:
        if self.auth_kind == "isu":
            fix = (
                "check the Integration System User name (login, without @tenant) and password, and that "
                "the account is active and its password not expired"
            )
        else:
            fix = (
                "the OAuth access token was refused even after a refresh; check that the API client and "
                "the refresh token are still valid and the ISU behind them may use this web service"
            )
        return f"connection '{self.conn_id}': Workday rejected the credentials ({message}); {fix}"


class JsonClassifier:
    """REST and RaaS: 2xx usable, 401 a credential problem, 429/5xx transient, other 4xx final."""

    def __init__(self, conn_id: str, auth_kind: str) -> None:
        self.conn_id = conn_id
        self.auth_kind = auth_kind

    def __call__(self, response: requests.Response) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        message = _json_error(response) or f"HTTP {status}"
        if status == 429 or status >= 500:
            raise TransientError(SYSTEM, message, status=status, retry_after_s=_retry_after(response))
        if status == 401:
            fix = (
                "check the ISU user name and password"
                if self.auth_kind == "isu"
                else "check the OAuth client and refresh token"
            )
            raise CredentialRejected(
                SYSTEM,
                f"connection '{self.conn_id}': Workday rejected the credentials ({message}); {fix}",
                status=status,
            )
        raise ApiError(SYSTEM, message, status=status)


def _json_error(response: requests.Response) -> str | None:
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError):
        return None
    if not isinstance(body, dict):
        return None
    parts = [str(body["error"])] if body.get("error") else []
    parts += [str(e.get("error")) for e in body.get("errors") or [] if isinstance(e, dict) and e.get("error")]
    return "; ".join(dict.fromkeys(parts)) or None


def _snippet(response: requests.Response) -> str | None:
    kind = response.headers.get("Content-Type", "")
    if "json" not in kind and "text/plain" not in kind:
        return None  # never echo HTML or XML bodies: they may reflect the request
    return response.text[:_SNIPPET] or None


# -- paging ------------------------------------------------------------------------------------------------
# Response_Results counts are xsd:decimal, whole, 0 or more, at most 12 digits; no exponent.
_WHOLE = re.compile(r"\s*\+?([0-9]{1,12})(?:\.0*)?\s*")


class InconsistentPage(ApiError):
    """A ``Get_*`` page that contradicts itself or the request: not the operation or page asked, counts
    missing, not whole numbers or disagreeing with each other or with the records it holds, or a record
    already read. Trusting it would lose or duplicate records, and the same request gets the same answer,
    so it is not retried: a person looks at what answers in Workday's place (a proxy, a cache, the tenant)."""

    def __init__(self, what: str, problem: str) -> None:
        super().__init__(SYSTEM, f"{what}: {problem}", status=200)


class ResultSetChanged(ApiError):
    """A later page of a scan counts a different result set than the first, although every page asked for
    the same ``As_Of_Entry_DateTime``: the snapshot did not hold (Workday keeps a paged result for a limited
    time). Nothing read so far is trusted; a new scan, at a new moment, reads one consistent set."""

    remedy = Remedy.RETRY


@dataclass(frozen=True)
class PageAnswer:
    """One checked ``Get_*`` page: the result set's size, its own record elements, and the payload."""

    page: int
    total_results: int
    total_pages: int
    records: list[wx.Element]
    payload: wx.Element


def _whole(parent: wx.Element | None, name: str, what: str) -> int | None:
    """The count ``name`` under ``parent``, None when absent; anything but one whole number is an error."""
    found = list(wx.children(parent, name))
    if not found:
        return None
    text = "" if len(found) > 1 else str(found[0].text or "")
    match = _WHOLE.fullmatch(text)
    if len(found) > 1 or match is None:
        shown = "several elements" if len(found) > 1 else repr(text[:40])
        raise InconsistentPage(what, f"{name} is {shown}, not a whole number of at most 12 digits")
    return int(Decimal(match.group(1)))


def _results(payload: wx.Element, what: str) -> wx.Element:
    found = list(wx.children(payload, "Response_Results"))
    if len(found) != 1:
        problem = "no Response_Results" if not found else f"{len(found)} Response_Results"
        raise InconsistentPage(what, f"{problem}: how many records and pages the result set holds is unknown")
    return found[0]


def _required(results: wx.Element, name: str, what: str) -> int:
    value = _whole(results, name, what)
    if value is None:
        raise InconsistentPage(what, f"Response_Results has no {name}: the result set's size is unknown")
    return value


def _check_echo(echoed: int | None, asked: int, name: str, what: str, *, empty: bool) -> None:
    """An echoed ``Page``/``Count`` must be the one asked (an empty result set may answer page 0)."""
    if echoed is not None and echoed != asked and not (empty and name == "Page" and echoed == 0):
        raise InconsistentPage(what, f"the answer is for {name} {echoed}, not the {name} {asked} asked")


def read_page(
    payload: wx.Element | None, operation: str, record: str, *, page: int, count: int
) -> PageAnswer:
    """The ``record`` elements of page ``page`` (of ``count`` a page) after checking that the answer says
    what was asked and that its counts agree with each other and with the records it holds."""
    what = f"{operation} page {page}"
    expected_tag = f"{operation}_Response"
    if payload is None or wx.local(payload) != expected_tag:
        got = wx.local(payload) if payload is not None else "nothing"
        raise InconsistentPage(what, f"the answer is {got or 'not an element'!r}, not a {expected_tag}")
    results = _results(payload, what)
    total = _required(results, "Total_Results", what)
    pages = _required(results, "Total_Pages", what)
    empty = total == 0
    response_filter = wx.child(payload, "Response_Filter")
    _check_echo(_whole(results, "Page", what), page, "Page", what, empty=empty)
    _check_echo(_whole(response_filter, "Page", what), page, "Page", what, empty=empty)
    _check_echo(_whole(response_filter, "Count", what), count, "Count", what, empty=empty)
    if pages != -(-total // count):
        raise InconsistentPage(
            what, f"Total_Pages {pages} disagrees with Total_Results {total} at {count} a page"
        )
    found = [el for data in wx.children(payload, "Response_Data") for el in wx.children(data, record)]
    said = _whole(results, "Page_Results", what)
    if said is not None and said != len(found):
        raise InconsistentPage(what, f"Page_Results says {said} but the page holds {len(found)} {record}")
    expected = max(0, min(count, total - (page - 1) * count))
    if len(found) != expected:
        raise InconsistentPage(
            what,
            f"the page holds {len(found)} {record} where Total_Results {total} at {count} a page "
            f"means {expected}",
        )
    PagedScan(operation, record).check_records(page, found)  # no record twice within the page
    return PageAnswer(page, total, pages, found, payload)


@dataclass
class PagedScan:
    """What the pages of one scan said so far: the result set's size may not change, and no record may
    come twice (its key: the reference's WID or first ID). Keys only, so memory stays small."""

    operation: str
    record: str
    total_results: int | None = None
    seen: dict[str, int] = field(default_factory=dict)

    def check_total(self, page: int, total_results: int | None) -> int | None:
        """The scan's result set size, set by the first page that tells it; a later page that differs
        raises :class:`ResultSetChanged`."""
        if total_results is None:
            return self.total_results
        if self.total_results is None:
            self.total_results = total_results
        elif total_results != self.total_results:
            raise ResultSetChanged(
                SYSTEM,
                f"{self.operation} page {page}: Total_Results {total_results} where the earlier pages "
                f"said {self.total_results}, at the same As_Of_Entry_DateTime",
                status=200,
            )
        return self.total_results

    def check_records(self, page: int, elements: list[wx.Element]) -> None:
        """Raises :class:`InconsistentPage` for a record read on an earlier page or twice on this one."""
        what = f"{self.operation} page {page}"
        on_page: set[str] = set()
        for element in elements:
            key = record_key(element, self.record)
            if key is None:
                continue
            if key in on_page:
                raise InconsistentPage(what, f"{self.record} {key} is on the page twice")
            if key in self.seen:
                raise InconsistentPage(what, f"{self.record} {key} was already read on page {self.seen[key]}")
            on_page.add(key)
        self.seen.update(dict.fromkeys(on_page, page))
