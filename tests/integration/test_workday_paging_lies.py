"""Page counts that lie, through the WorkdayHook's paging loop over real HTTP: the sandbox answers a page
with a real page of its own whose ``Response_Results`` (or records) were changed.

The rule: records are never silently lost or read twice. A page that contradicts itself or the request is
an :class:`InconsistentPage` naming the page and what disagreed, not retried (the same request gets the
same answer); a result set whose size changes between pages of one pinned scan is a
:class:`ResultSetChanged`, worth a new scan later.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from lxml import etree
from support.sandbox import workday_server
from workday_support import REVENUE_POST, flat, oauth_uri, real_page

from ml_connector.errors import Remedy, remedy_of
from ml_connector.hooks.workday import WorkdayHook
from ml_connector.hooks.workday_errors import InconsistentPage, ResultSetChanged
from ml_connector.http.errors import ApiError
from ml_connector.sandbox.runtime import RunningSandbox

WD = "urn:com.workday/bsvc"
Connect = Callable[[str], WorkdayHook]


def lie(body: bytes, *, drop_records: int = 0, **counts: int | str) -> str:
    """``body`` with the given ``Response_Results`` counts (and ``Page``, also in ``Response_Filter``)
    replaced, and its last ``drop_records`` customers removed."""
    root = etree.fromstring(body)
    for name, value in counts.items():
        parents = ("Response_Results", "Response_Filter") if name == "Page" else ("Response_Results",)
        for el in root.iter(f"{{{WD}}}{name}"):
            if etree.QName(el.getparent()).localname in parents:
                el.text = str(value)
    customers = list(root.iter(f"{{{WD}}}Customer"))
    for customer in customers[len(customers) - drop_records :] if drop_records else []:
        customer.getparent().remove(customer)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode()


def serve(sandbox: RunningSandbox, *bodies: str, after: int = 0) -> None:
    """The hook's next Get_Customers requests, after ``after`` real ones, get ``bodies`` in order."""
    server = workday_server(sandbox)
    for i, body in enumerate(bodies):
        server.arm(
            route=REVENUE_POST,
            kind="status",
            status=200,
            content_type="text/xml",
            body=body,
            after=after if i == 0 else 0,
        )


def scan(sandbox: RunningSandbox, connect: Connect, size: int) -> list[Any]:
    return flat(connect(oauth_uri(sandbox, page_size=size)).iter_customers())


def requests_made(sandbox: RunningSandbox) -> int:
    return int(workday_server(sandbox).by_route().get(REVENUE_POST, 0))


@pytest.fixture()
def total(fresh_sandbox: RunningSandbox) -> int:
    count = int(workday_server(fresh_sandbox).summary()["customers"]["total"])
    assert count > 100  # three pages of 50, the last one short
    return count


def halves(total: int) -> int:
    """The largest page size that splits ``total`` into whole pages, two or more of them."""
    return next(d for d in range(total // 2, 0, -1) if total % d == 0)


def refused(
    error: type[ApiError],
    sandbox: RunningSandbox,
    connect: Connect,
    size: int,
    *says: str,
    requests: int,
) -> ApiError:
    """Scans at ``size`` a page, expecting ``error`` after ``requests`` pages were asked for, none of
    them twice; its message must say every one of ``says``."""
    before = requests_made(sandbox)
    with pytest.raises(error) as caught:
        scan(sandbox, connect, size)
    assert requests_made(sandbox) - before == requests
    message = str(caught.value)
    for part in says:
        assert part in message, message
    return caught.value


# -- Total_Pages larger than the result set --------------------------------------------------------------
def test_total_pages_more_than_total_results_fill_is_refused_at_page_1(
    fresh_sandbox: RunningSandbox, workday_connect: Connect, total: int
) -> None:
    serve(fresh_sandbox, lie(real_page(fresh_sandbox, 1, 50), Total_Pages=math.ceil(total / 50) + 1))
    error = refused(
        InconsistentPage,
        fresh_sandbox,
        workday_connect,
        50,
        "Get_Customers page 1",
        "Total_Pages",
        requests=1,
    )
    assert (
        f"Total_Pages {math.ceil(total / 50) + 1} disagrees with Total_Results {total} at 50 a page"
        in str(error)
    )
    assert remedy_of(error) is Remedy.PERSON


def test_a_later_page_that_comes_back_empty_is_refused_naming_it(
    fresh_sandbox: RunningSandbox, workday_connect: Connect, total: int
) -> None:
    """Every page says one more page exists than does; the extra page holds no records."""
    size = halves(total)
    promised = {"Total_Results": 3 * size, "Total_Pages": 3}
    pages = [lie(real_page(fresh_sandbox, p, size), **promised) for p in (1, 2, 3)]
    serve(fresh_sandbox, *pages)
    refused(
        InconsistentPage,
        fresh_sandbox,
        workday_connect,
        size,
        "Get_Customers page 3",
        f"holds 0 Customer where Total_Results {3 * size} at {size} a page means {size}",
        requests=3,
    )


def test_an_empty_page_past_the_end_whose_result_set_shrank_is_a_changed_result_set(
    fresh_sandbox: RunningSandbox, workday_connect: Connect, total: int
) -> None:
    """Pages 1 and 2 promise a third page; the server's real answer for it counts the real, smaller set."""
    size = halves(total)
    promised = {"Total_Results": 3 * size, "Total_Pages": 3}
    serve(fresh_sandbox, *(lie(real_page(fresh_sandbox, p, size), **promised) for p in (1, 2)))
    error = refused(
        ResultSetChanged, fresh_sandbox, workday_connect, size, "page 3", f"Total_Results {total}", requests=3
    )
    assert f"said {3 * size}" in str(error) and remedy_of(error) is Remedy.RETRY


# -- Total_Pages smaller: more records exist ---------------------------------------------------------------
def test_total_pages_fewer_than_total_results_fill_is_refused_not_cut_short(
    fresh_sandbox: RunningSandbox, workday_connect: Connect, total: int
) -> None:
    serve(fresh_sandbox, lie(real_page(fresh_sandbox, 1, 50), Total_Pages=1))
    refused(
        InconsistentPage,
        fresh_sandbox,
        workday_connect,
        50,
        "Get_Customers page 1",
        f"Total_Pages 1 disagrees with Total_Results {total}",
        requests=1,
    )


def test_a_later_page_counting_fewer_results_is_a_changed_result_set(
    fresh_sandbox: RunningSandbox, workday_connect: Connect, total: int
) -> None:
    """Page 2 says the set ends with it: believing it would drop the records of page 3."""
    serve(fresh_sandbox, lie(real_page(fresh_sandbox, 2, 50), Total_Results=100, Total_Pages=2), after=1)
    error = refused(
        ResultSetChanged,
        fresh_sandbox,
        workday_connect,
        50,
        "Get_Customers page 2",
        "Total_Results 100",
        requests=2,
    )
    assert f"said {total}" in str(error) and remedy_of(error) is Remedy.RETRY


def test_a_page_holding_fewer_records_than_its_page_results_is_refused(
    fresh_sandbox: RunningSandbox, workday_connect: Connect, total: int
) -> None:
    serve(fresh_sandbox, lie(real_page(fresh_sandbox, 2, 50), drop_records=1), after=1)
    refused(
        InconsistentPage,
        fresh_sandbox,
        workday_connect,
        50,
        "page 2",
        "Page_Results says 50",
        "49",
        requests=2,
    )


# -- a page that repeats another, a page that is not the one asked ----------------------------------------
def test_a_page_answered_with_the_previous_page_is_refused(
    fresh_sandbox: RunningSandbox, workday_connect: Connect, total: int
) -> None:
    serve(fresh_sandbox, real_page(fresh_sandbox, 1, 50).decode(), after=1)
    refused(
        InconsistentPage,
        fresh_sandbox,
        workday_connect,
        50,
        "page 2",
        "Page 1, not the Page 2 asked",
        requests=2,
    )


def test_the_previous_page_s_records_under_the_right_page_number_are_refused_as_read_twice(
    fresh_sandbox: RunningSandbox, workday_connect: Connect, total: int
) -> None:
    first = real_page(fresh_sandbox, 1, 50)
    serve(fresh_sandbox, lie(first, Page=2), after=1)
    error = refused(
        InconsistentPage, fresh_sandbox, workday_connect, 50, "page 2", "already read on page 1", requests=2
    )
    assert "Customer " in str(error)


def test_a_page_answered_with_a_later_page_is_refused(
    fresh_sandbox: RunningSandbox, workday_connect: Connect, total: int
) -> None:
    serve(fresh_sandbox, real_page(fresh_sandbox, 3, 50).decode(), after=1)
    refused(
        InconsistentPage,
        fresh_sandbox,
        workday_connect,
        50,
        "page 2",
        "Page 3, not the Page 2 asked",
        requests=2,
    )


@pytest.mark.parametrize("value", ["three", "-3", "1e3", "3.5", "9" * 13])
def test_a_count_that_is_not_a_whole_number_is_refused_naming_it(
    fresh_sandbox: RunningSandbox, workday_connect: Connect, total: int, value: str
) -> None:
    serve(fresh_sandbox, lie(real_page(fresh_sandbox, 1, 50), Total_Pages=value))
    refused(
        InconsistentPage,
        fresh_sandbox,
        workday_connect,
        50,
        "page 1",
        "Total_Pages",
        "not a whole number",
        requests=1,
    )


def test_the_truth_reads_every_record_once(
    fresh_sandbox: RunningSandbox, workday_connect: Connect, total: int
) -> None:
    """The control: the same scan without a lie reads every customer exactly once."""
    read = scan(fresh_sandbox, workday_connect, 50)
    assert len(read) == total == len({c.workday_id for c in read})
    assert requests_made(fresh_sandbox) == math.ceil(total / 50)


def test_a_first_page_with_no_readable_record_does_not_end_the_scan(
    fresh_sandbox: RunningSandbox, workday_connect: Connect, total: int
) -> None:
    """Page 1 and every one-record read around it come back cut: how many pages exist is unknown after
    it, so the scan goes on to page 2 (which tells), rather than taking the unknown for zero."""
    size = 4
    # page 1 read twice, then its 4 records one by one: 6 answers cut in half
    workday_server(fresh_sandbox).arm(route=REVENUE_POST, kind="malformed", count=2 + size)
    hook = workday_connect(oauth_uri(fresh_sandbox, page_size=size))
    read = flat(hook.iter_customers())
    assert len(hook.skipped_records) == size
    assert all("not well-formed" in reason for _, _, reason in hook.skipped_records)
    assert len(read) == total - size == len({c.workday_id for c in read})
    assert requests_made(fresh_sandbox) == 2 + size + math.ceil(total / size) - 1
