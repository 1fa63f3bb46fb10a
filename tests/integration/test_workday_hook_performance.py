"""Full 999-record ``Get_Customers`` pages through the hook: request, hardened parse, typed records.

How long a page takes is measured by ``make bench`` (it used to be a wall-clock assertion here).
"""

from __future__ import annotations

from collections.abc import Callable

from ml_connector.hooks.workday import WorkdayHook
from ml_connector.sandbox.runtime import RunningSandbox


def test_999_record_pages_are_read_and_typed(
    make_sandbox: Callable[..., RunningSandbox], workday_connect: Callable[[str], WorkdayHook]
) -> None:
    sandbox = make_sandbox(customers=2000, suppliers=10)
    hook = workday_connect(sandbox.workday_conn_uri)  # page_size defaults to 999
    pages = list(hook.iter_customers())
    assert [len(p) for p in pages] == [999, 999, 2]
    assert len({c.workday_id for page in pages for c in page}) == 2000
