"""Reading around a Workday SOAP page that cannot be parsed, so that one bad record stays alone.

A record whose text holds a character XML 1.0 forbids (Workday writes a control character as ``&#x1;``)
makes its whole page unparseable. The range of that page is read again in pages a quarter the size, at
the same ``As_Of_Entry_DateTime``, and only the pieces that still fail are split further, down to single
records: every other record of the page is read, and each lone bad one is reported with its IDs, found
by a lenient parse of its own small response. Page ``k`` of size ``n`` holds results ``(k-1)*n`` to
``k*n - 1``, so records a smaller page brings from outside the range are dropped, never read twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from ml_connector.hooks import workday_xml as wx
from ml_connector.hooks.workday_errors import UnreadablePage

log = logging.getLogger(__name__)

# More unreadable records than this in one page is no longer "a bad record": the responses themselves are
# broken (a proxy, an encoding problem), and reading record by record would cost a request per record.
MAX_UNREADABLE_PER_PAGE = 20

# (page, count) -> the *_Response element of that page; raises UnreadablePage.
FetchPage = Callable[[int, int], wx.Element]


@dataclass
class Isolated:
    """What was read of the range: good record elements, and the lone ones that could not be parsed."""

    records: list[wx.Element] = field(default_factory=list)
    unreadable: list[tuple[wx.Element | None, UnreadablePage]] = field(default_factory=list)
    total_results: int | None = None


def read_around(fetch: FetchPage, record: str, *, start: int, length: int, size: int) -> Isolated:
    """The ``record`` elements at results ``start`` .. ``start + length - 1``, whose page of ``size`` failed."""
    out = Isolated()
    _split(fetch, record, start, length, size, out)
    return out


def _split(fetch: FetchPage, record: str, start: int, length: int, size: int, out: Isolated) -> None:
    sub = max(1, size // 4)
    end = start + length
    if out.total_results is not None:
        end = min(end, out.total_results)
    for page in range(start // sub + 1, (end - 1) // sub + 2):
        low = (page - 1) * sub
        lo, hi = max(start, low), min(end, low + sub)
        if lo >= hi:
            continue
        try:
            payload = fetch(page, sub)
        except UnreadablePage as exc:
            if sub > 1:
                _split(fetch, record, lo, hi - lo, sub, out)
                continue
            out.unreadable.append((_lone_record(exc.body, record), exc))
            if len(out.unreadable) > MAX_UNREADABLE_PER_PAGE:
                raise UnreadablePage(
                    f"more than {MAX_UNREADABLE_PER_PAGE} records of one page are not well-formed XML: "
                    f"the responses themselves look broken ({exc.api_message})",
                    b"",
                ) from None
            continue
        total = wx.text(wx.child(payload, "Response_Results"), "Total_Results")
        if total is not None:
            out.total_results = int(float(total))
        found = [el for data in wx.children(payload, "Response_Data") for el in wx.children(data, record)]
        out.records.extend(el for i, el in enumerate(found) if lo <= low + i < hi)


def _lone_record(body: bytes, record: str) -> wx.Element | None:
    """The record element of a one-record response, parsed leniently only to learn its IDs."""
    try:
        root = wx.parse_lenient(body)
    except Exception:  # nothing recoverable: the caller reports the record without IDs
        return None
    if root is None:
        return None
    payload = wx.body_payload(root)
    data = next(wx.children(payload, "Response_Data"), None)
    return next(wx.children(data, record), None)
