"""Building Workday SOAP requests with zeep from the tenant's WSDL, hardened and loaded once.

zeep only *builds* envelopes here (it knows element order, types and WS-Security); sending goes
through :class:`~ml_connector.http.client.HttpClient` and responses are read with lxml, because
zeep's response parsing takes seconds per 999-record page and rejects elements its WSDL lacks.
Parsed WSDLs are cached per location for the life of the process: a worker loads each once.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import zeep
from lxml import etree
from zeep.transports import Transport
from zeep.wsdl import Document
from zeep.wsse.username import UsernameToken

from ml_connector.http.client import HttpClient
from ml_connector.http.errors import ApiError

log = logging.getLogger(__name__)

WD_NS = "urn:com.workday/bsvc"
SETTINGS = zeep.Settings(
    strict=True,
    xml_huge_tree=True,
    forbid_dtd=True,
    forbid_entities=True,
    forbid_external=True,
)
SOAP_HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}

_documents: dict[str, Any] = {}
_lock = threading.Lock()


class _HttpTransport(Transport):
    """zeep fetches the WSDL (and any imports) through an HttpClient, so retries and TLS settings apply."""

    def __init__(self, http: HttpClient) -> None:
        super().__init__(session=http.session, timeout=http.timeout_s)  # type: ignore[no-untyped-call]
        self._http = http

    def load(self, url: str) -> bytes:
        if not url.startswith(("http://", "https://")):
            return super().load(url)  # type: ignore[no-untyped-call,no-any-return]  # a local WSDL file
        return self._http.request("GET", url, what="Workday WSDL").content


def load_wsdl(location: str, http: HttpClient) -> Any:
    """The parsed WSDL at ``location``, from the in-process cache after the first load."""
    with _lock:
        document = _documents.get(location)
        if document is None:
            log.info("loading Workday WSDL %s", location)
            try:
                document = Document(location, _HttpTransport(http), settings=SETTINGS)  # type: ignore[arg-type]
            except ApiError:
                raise
            except Exception as exc:  # zeep raises many kinds for a broken or hostile WSDL
                raise ApiError(
                    "workday", f"cannot load the WSDL at {location}: {type(exc).__name__}: {exc}"
                ) from None
            _documents[location] = document
        return document


def clear_wsdl_cache() -> None:
    with _lock:
        _documents.clear()


class EnvelopeBuilder:
    """Serialises ``Get_*`` requests for one service, with WS-Security when the connection uses an ISU."""

    def __init__(
        self, document: Any, http: HttpClient, *, username: str | None, password: str | None
    ) -> None:
        wsse = UsernameToken(username, password) if username and password else None  # type: ignore[no-untyped-call]
        self._client = zeep.Client(  # type: ignore[no-untyped-call]
            document, wsse=wsse, transport=_HttpTransport(http), settings=SETTINGS
        )
        self._header: Any = None
        try:
            header_type = self._client.get_element(f"{{{WD_NS}}}Workday_Common_Header")  # type: ignore[no-untyped-call]
            # Descriptors make references readable (category names, worktag values) at a small cost.
            self._header = header_type(Include_Reference_Descriptors_In_Response=True)
        except (LookupError, ValueError):  # a WSDL without the common header: send none
            log.debug("the WSDL declares no Workday_Common_Header")

    def __repr__(self) -> str:
        return "EnvelopeBuilder()"

    def build(self, operation: str, **params: Any) -> bytes:
        """The request envelope as bytes; unknown operations or parameters raise :class:`ApiError`."""
        extra = {"_soapheaders": [self._header]} if self._header is not None else {}
        try:
            envelope = self._client.create_message(  # type: ignore[no-untyped-call]
                self._client.service, operation, **params, **extra
            )
        except (TypeError, ValueError, LookupError) as exc:
            raise ApiError("workday", f"cannot build {operation} from the WSDL: {exc}") from None
        return bytes(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))
