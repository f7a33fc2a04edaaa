"""Dead-letter selection and how `sevsync dead` shows rows (no I/O)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from sevsync.cli import build_parser
from sevsync.replay import describe, table
from sevsync.store.dead_letters import DeadLetter, DeadLetterFilter

EVENT = uuid.UUID("0b6f0c7e-6f1a-4c77-9a63-6d2f3c1f5d10")


def dead_letter(**overrides: object) -> DeadLetter:
    fields: dict[str, object] = {
        "id": 7,
        "dead_at": datetime(2026, 11, 20, 10, 15, 0, tzinfo=UTC),
        "tenant_id": "acme",
        "event_type": "product.created",
        "event_id": EVENT,
        "reason": "sevdesk_rejected",
        "attempts": 2,
        "replayed_at": None,
        "error": "HTTP 422: refused",
        "body": b'{"data": {"email": "erika@example.org"}}',
    }
    fields.update(overrides)
    return DeadLetter(**fields)  # type: ignore[arg-type]


def test_no_filter_selects_the_open_rows() -> None:
    assert DeadLetterFilter().where() == ("replayed_at IS NULL", [])
    assert DeadLetterFilter(open_only=False).where() == ("TRUE", [])
    assert not DeadLetterFilter().narrows


def test_every_filter_is_a_numbered_parameter() -> None:
    filters = DeadLetterFilter(tenant_id="acme", reason="malformed", event_ids=(EVENT,), up_to_id=40)
    where, params = filters.where(first_param=3)
    assert where == (
        "replayed_at IS NULL AND tenant_id = $3 AND reason = $4 AND event_id = ANY($5::uuid[]) AND id <= $6"
    )
    assert params == ["acme", "malformed", [EVENT], 40]


def test_replayable_only_leaves_out_the_letters_a_replay_cannot_fix() -> None:
    where, params = DeadLetterFilter(tenant_id="acme", replayable_only=True).where()
    assert where == "replayed_at IS NULL AND tenant_id = $1 AND reason <> ALL($2::text[])"
    assert params == ["acme", ["malformed"]]
    assert not DeadLetterFilter(replayable_only=True).narrows  # still every letter, for the 'all' rule


@pytest.mark.parametrize(
    "filters",
    [
        DeadLetterFilter(tenant_id="acme"),
        DeadLetterFilter(reason="malformed"),
        DeadLetterFilter(event_ids=(EVENT,)),
    ],
)
def test_tenant_reason_and_event_id_narrow_the_selection(filters: DeadLetterFilter) -> None:
    assert filters.narrows


def test_a_limit_or_the_id_ceiling_alone_does_not_count_as_a_filter() -> None:
    # `replay` refuses to run over everything without --all; a ceiling is no such restriction.
    assert not DeadLetterFilter(up_to_id=10).narrows


def test_describe_leaves_the_body_out_unless_asked() -> None:
    row = dead_letter(replayed_at=datetime(2026, 11, 21, 8, 0, tzinfo=UTC))
    view = describe(row)
    assert "body" not in view
    assert view == {
        "id": 7,
        "dead_at": "2026-11-20T10:15:00+00:00",
        "tenant_id": "acme",
        "event_type": "product.created",
        "event_id": str(EVENT),
        "reason": "sevdesk_rejected",
        "attempts": 2,
        "replayed_at": "2026-11-21T08:00:00+00:00",
        "error": "HTTP 422: refused",
    }
    assert describe(row, with_body=True)["body"] == '{"data": {"email": "erika@example.org"}}'


def test_a_body_that_is_not_utf8_is_shown_with_escapes() -> None:
    assert describe(dead_letter(body=b"ok \xff"), with_body=True)["body"] == "ok \\xff"


def test_table_is_one_line_per_row_with_the_error_trimmed() -> None:
    rows = [
        dead_letter(error="line one\nline two\tand a tab " + "x" * 500),
        dead_letter(
            id=12,
            tenant_id=None,
            event_type=None,
            event_id=None,
            reason="malformed",
            dead_at=datetime(2026, 11, 20, 12, 0, tzinfo=timezone(timedelta(hours=1))),
            replayed_at=datetime(2026, 11, 20, 12, 30, tzinfo=UTC),
            error=None,
        ),
    ]
    header, first, second = table(rows)
    assert header.split() == [
        "ID",
        "DEAD_AT",
        "TENANT",
        "EVENT_TYPE",
        "EVENT_ID",
        "REASON",
        "ATTEMPTS",
        "REPLAYED_AT",
        "ERROR",
    ]
    assert first.split()[:8] == [
        "7",
        "2026-11-20T10:15:00Z",
        "acme",
        "product.created",
        str(EVENT),
        "sevdesk_rejected",
        "2",
        "-",
    ]
    error = first[header.index("ERROR") :]
    assert error.startswith("line one line two and a tab xxx")
    assert len(error) == 120
    assert error.endswith("...")
    # Times in UTC; missing values as "-"; columns aligned under the header.
    assert second.split() == [
        "12",
        "2026-11-20T11:00:00Z",
        "-",
        "-",
        "-",
        "malformed",
        "2",
        "2026-11-20T12:30:00Z",
        "-",
    ]
    assert second.index("malformed") == header.index("REASON")


def test_control_characters_from_a_malformed_message_cannot_break_the_line() -> None:
    [_, line] = table([dead_letter(tenant_id="evil\r\ntenant", event_type="a\x1bb")])
    assert "\r" not in line
    assert "\x1b" not in line
    assert "evil tenant" in line


def test_replay_options_parse() -> None:
    args = build_parser().parse_args(
        ["dead", "replay", "--tenant", "acme", "--event-id", str(EVENT), "--limit", "5", "--dry-run"]
    )
    assert (args.tenant, args.event_ids, args.limit, args.dry_run, args.all) == (
        "acme",
        [EVENT],
        5,
        True,
        False,
    )
    listing = build_parser().parse_args(["dead", "list"])
    assert (listing.limit, listing.include_replayed, listing.json, listing.show_body) == (
        50,
        False,
        False,
        False,
    )
