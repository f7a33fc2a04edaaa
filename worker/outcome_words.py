"""The words an outcome is recorded with: its status and its reason (CONTRACT section 7).

Statuses are few and fixed; reasons say why, and docs/dashboards.md lists them all. Kept apart from
the store and the handlers so that both, and the CLI, the admin API and the dashboards, name them one
way.
"""

from typing import Final

# Each word is `Final`, so it type-checks as its literal where one is expected (InvalidEvent.reason).

# Outcome statuses (CONTRACT section 7).
SUCCEEDED: Final = "succeeded"
SKIPPED: Final = "skipped"
RETRYING: Final = "retrying"
PARKED: Final = "parked"
FAILED: Final = "failed"
DEAD: Final = "dead"
# Every status, in the order the admin API and the console list their counts.
STATUSES: Final = (SUCCEEDED, SKIPPED, RETRYING, PARKED, FAILED, DEAD)
# Outcomes after which a redelivery of the same event is a duplicate.
INBOX_STATUSES: Final = frozenset({SUCCEEDED, SKIPPED})

# Reasons (CONTRACT section 7, plus the ones sevsync adds; docs/dashboards.md lists them all).
DUPLICATE: Final = "duplicate"
STALE: Final = "stale"
# A newer version of the same entity was waiting in the same process; only that one is written.
SUPERSEDED: Final = "superseded"
NO_CHANGE: Final = "no_change"
NOT_CONNECTED: Final = "not_connected"
DISABLED: Final = "disabled"
AUTO_SYNC_OFF: Final = "auto_sync_off"
# Skips that depend only on the tenant's state: what was skipped for them can be sent later
# (CONTRACT section 5), and their events keep their body meanwhile.
REPLAYABLE_SKIPS: Final = (NOT_CONNECTED, DISABLED, AUTO_SYNC_OFF)
SEVDESK_LEADS: Final = "sevdesk_leads"
SEVDESK_REJECTED: Final = "sevdesk_rejected"
UNSUPPORTED_CURRENCY: Final = "unsupported_currency"
UNKNOWN_COUNTRY: Final = "unknown_country"
AMBIGUOUS_MATCH: Final = "ambiguous_match"
MALFORMED: Final = "malformed"
UNKNOWN_EVENT_TYPE: Final = "unknown_event_type"
RETRIES_EXHAUSTED: Final = "retries_exhausted"
# Why an event is `retrying`.
RATE_LIMITED: Final = "rate_limited"
SEVDESK_UNAVAILABLE: Final = "sevdesk_unavailable"
WRITE_UNCONFIRMED: Final = "write_unconfirmed"
AUTH_FAILED: Final = "auth_failed"
DELIVERY_LIMIT: Final = "delivery_limit"
# Accounting documents (issue 4).
CANCELLED: Final = "cancelled"
NOT_DRAFT: Final = "not_draft"
TAX_RULE_INVALID: Final = "tax_rule_invalid"
UNKNOWN_BOOKING_ACCOUNT: Final = "unknown_booking_account"
UNKNOWN_CHECK_ACCOUNT: Final = "unknown_check_account"
UNMATCHED: Final = "unmatched"
# A payment above what is open on its document (CONTRACT section 7).
OVERPAID: Final = "overpaid"
TOTALS_MISMATCH: Final = "totals_mismatch"
INVALID_AMOUNTS: Final = "invalid_amounts"
AWAITING_DEPENDENCY: Final = "awaiting_dependency"
# E-invoices and documents (CONTRACT section 9).
EINVOICE_DATA_MISSING: Final = "einvoice_data_missing"
DOCUMENT_INVALID: Final = "document_invalid"
# Why an event is `retrying`: its document's url did not answer (or answered 408, 429, 5xx).
DOCUMENT_UNAVAILABLE: Final = "document_unavailable"
# A linked sevDesk object was found deleted there (CONTRACT section 10): the entity's events fail
# until an operator relinks or clears the link (`sevsync link relink|clear`).
LINK_BROKEN: Final = "link_broken"
