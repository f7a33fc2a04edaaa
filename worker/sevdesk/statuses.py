"""sevDesk's status codes of offers (Order AN), invoices and vouchers, and the CRM's word for each.

Pure: one table for the handlers that write these codes and the reconciler that reads them back
(api-notes 6-8).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

# Orders and invoices are drafts at 100, vouchers at 50; drafts cannot be booked.
DRAFT: Final = 100
VOUCHER_DRAFT: Final = 50
DRAFT_STATUS: Final[Mapping[str, int]] = {"Order": DRAFT, "Invoice": DRAFT, "Voucher": VOUCHER_DRAFT}
ORDER_SENT: Final = 200
ORDER_REJECTED: Final = 300
INVOICE_OPEN: Final = 200
VOUCHER_OPEN: Final = 100
PARTIALLY_PAID: Final = 750
PAID: Final = 1000

# The CRM's word for each code, per object; a code not listed is not told.
CRM_STATUS: Final[Mapping[str, Mapping[int, str]]] = {
    "Order": {
        DRAFT: "draft",
        ORDER_SENT: "open",
        ORDER_REJECTED: "rejected",
        500: "accepted",
        750: "accepted",
        1000: "accepted",
    },
    "Invoice": {DRAFT: "draft", INVOICE_OPEN: "open", PARTIALLY_PAID: "partially_paid", PAID: "paid"},
    "Voucher": {
        VOUCHER_DRAFT: "draft",
        VOUCHER_OPEN: "open",
        150: "open",
        PARTIALLY_PAID: "partially_paid",
        PAID: "paid",
    },
}


def status_code(value: object) -> int | None:
    """sevDesk's status as a number (it answers strings); None when missing or not a number."""
    try:
        return int(str(value))
    except ValueError:
        return None
