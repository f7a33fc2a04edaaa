"""The words an outcome is recorded with: its status and its reason (CONTRACT section 7).

Statuses are few and fixed; reasons say why, and the README lists them all. Kept apart from the store
and the handlers so that both, and the CLI, the admin API and the dashboards, name them one way.
"""

# Outcome statuses (CONTRACT section 7).
SUCCEEDED = "succeeded"
SKIPPED = "skipped"
RETRYING = "retrying"
PARKED = "parked"
FAILED = "failed"
DEAD = "dead"
# Every status, in the order the admin API and the console list their counts.
STATUSES = (SUCCEEDED, SKIPPED, RETRYING, PARKED, FAILED, DEAD)
# Outcomes after which a redelivery of the same event is a duplicate.
INBOX_STATUSES = frozenset({SUCCEEDED, SKIPPED})

# Reasons (CONTRACT section 7, plus the ones sevsync adds; README lists them all).
DUPLICATE = "duplicate"
STALE = "stale"
# A newer version of the same entity was waiting in the same process; only that one is written.
SUPERSEDED = "superseded"
NO_CHANGE = "no_change"
NOT_CONNECTED = "not_connected"
DISABLED = "disabled"
AUTO_SYNC_OFF = "auto_sync_off"
# Skips that depend only on the tenant's state: what was skipped for them can be sent later
# (CONTRACT section 5), and their events keep their body meanwhile.
REPLAYABLE_SKIPS = (NOT_CONNECTED, DISABLED, AUTO_SYNC_OFF)
SEVDESK_LEADS = "sevdesk_leads"
SEVDESK_REJECTED = "sevdesk_rejected"
UNSUPPORTED_CURRENCY = "unsupported_currency"
UNKNOWN_COUNTRY = "unknown_country"
AMBIGUOUS_MATCH = "ambiguous_match"
MALFORMED = "malformed"
UNKNOWN_EVENT_TYPE = "unknown_event_type"
RETRIES_EXHAUSTED = "retries_exhausted"
# Why an event is `retrying`.
RATE_LIMITED = "rate_limited"
SEVDESK_UNAVAILABLE = "sevdesk_unavailable"
WRITE_UNCONFIRMED = "write_unconfirmed"
AUTH_FAILED = "auth_failed"
DELIVERY_LIMIT = "delivery_limit"
# Accounting documents (issue 4).
CANCELLED = "cancelled"
NOT_DRAFT = "not_draft"
TAX_RULE_INVALID = "tax_rule_invalid"
UNKNOWN_BOOKING_ACCOUNT = "unknown_booking_account"
UNKNOWN_CHECK_ACCOUNT = "unknown_check_account"
UNMATCHED = "unmatched"
# A payment above what is open on its document (CONTRACT section 7).
OVERPAID = "overpaid"
TOTALS_MISMATCH = "totals_mismatch"
INVALID_AMOUNTS = "invalid_amounts"
AWAITING_DEPENDENCY = "awaiting_dependency"
