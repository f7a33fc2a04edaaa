"""The event's SQL in the schema (migration 0016) keeps the rules the Python statements share."""

from __future__ import annotations

from sevsync.store.links import MERGE_LINK
from sevsync.store.migrations import available_migrations
from sevsync.store.outcomes import LAST_ATTEMPT


def _words(sql: str) -> str:
    return " ".join(sql.split())


def _newest_defining(name: str) -> str:
    """The SQL of the newest migration that (re)defines the function `name`."""
    defining = [m.sql for m in available_migrations() if f"FUNCTION {name}(" in m.sql]
    assert defining, name
    return _words(defining[-1])


def test_the_commit_statement_merges_links_as_upsert_link_does() -> None:
    assert _words(MERGE_LINK) in _newest_defining("sevsync.write_outcome")


def test_the_state_read_counts_attempts_as_next_attempt_does() -> None:
    assert _words(LAST_ATTEMPT) in _newest_defining("sevsync.event_state")
