"""The list filters on stamps: ``createAfter``, ``createBefore``, ``updateAfter``, ``updateBefore``.

The spec lists them in the filter tables of the Contact, Order, Invoice and Voucher tags only (as
``{timestamp}``), so only those lists apply them; the others (ContactAddress, CommunicationWay, Part,
...) ignore them as they ignore every unknown filter. The spec's integer ``startDate``/``endDate``
beside them are Unix seconds, and so are these; the date forms the other date filters take
(``dd.mm.yyyy``, ISO 8601) are accepted too, so the sandbox refuses nothing the real API may take.
A malformed value is a 400, as for the other date filters.

"updated last after timestamp" is read as strictly after, "before" as strictly before: an object
stamped at the very second given matches neither bound (stamps have whole seconds). A client that
keeps a cursor must therefore ask from a second before the last change it saw, or miss one made
in that same second. Paging applies to what the filters leave, in the list's own order.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import datetime

from aiohttp import web

from .banking import query_moment
from .store import Record

# query parameter -> (the record's stamp, comparison with the bound that keeps a record)
_FILTERS: dict[str, tuple[Callable[[Record], str], Callable[[datetime, datetime], bool]]] = {
    "createAfter": (lambda record: record.created, operator.gt),
    "createBefore": (lambda record: record.created, operator.lt),
    "updateAfter": (lambda record: record.updated, operator.gt),
    "updateBefore": (lambda record: record.updated, operator.lt),
}


def filter_by_time(request: web.Request, records: list[Record]) -> list[Record]:
    """The records whose ``create``/``update`` fall within the bounds the query gives (all four)."""
    bounds = [(stamp, keep, query_moment(request, name)) for name, (stamp, keep) in _FILTERS.items()]
    for stamp, keep, bound in bounds:
        if bound is not None:
            records = [r for r in records if keep(datetime.fromisoformat(stamp(r)), bound)]
    return records
