"""`sevsync import TENANT contacts|parts`: offer the CRM the sevDesk records it does not have yet.

The import pages through sevDesk's contacts or parts. Each record that is neither linked to a CRM
entity nor imported before is mapped to the CRM's inbound shape and published as `contact.imported`
or `part.imported` on the outbound exchange. The CRM creates its record from it and sends it back
with `sevdesk_id`, which then links instead of creating a second sevDesk object.

Progress (the list offset and the counts) is committed after each page in `sevsync.import_run`.
An interrupted run continues at the page it stopped on. A finished run starts again at 0 and skips
what `sevsync.imported_record` holds, so it offers only records that are new since.
"""

from .importer import run_import
from .kinds import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, ImportKind
from .mapping import crm_unit, customer_from_contact, product_from_part
from .results import ImportFailed, ImportProgress, ImportRunning, ImportStatus, ImportSummary, InvalidRecord
from .runs import import_status

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "ImportFailed",
    "ImportKind",
    "ImportProgress",
    "ImportRunning",
    "ImportStatus",
    "ImportSummary",
    "InvalidRecord",
    "crm_unit",
    "customer_from_contact",
    "import_status",
    "product_from_part",
    "run_import",
]
