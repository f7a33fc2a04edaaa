"""`sevsync dead purge`: retention of dead letters (their bodies hold personal data), as a subprocess."""

from __future__ import annotations

import asyncpg
import pytest

from sevsync.config import Settings

from ..cli_runner import clean_env, sevsync
from .test_dead_letters import add_dead_letter, add_malformed, run_sevsync


async def age(db: asyncpg.Pool, dead_letter_id: int, days: float) -> None:
    await db.execute(
        "UPDATE sevsync.dead_letter SET dead_at = now() - make_interval(secs => $2 * 86400) WHERE id = $1",
        dead_letter_id,
        days,
    )


async def remaining(db: asyncpg.Pool) -> list[int]:
    return [r["id"] for r in await db.fetch("SELECT id FROM sevsync.dead_letter ORDER BY id")]


async def seed(db: asyncpg.Pool) -> None:
    """Seven dead letters: ids 1-4 and 6 are 40 days old, 5 is 10 days old, 7 is new."""
    await add_dead_letter(db)  # 1: acme, open
    await add_dead_letter(db)  # 2: acme, replayed: purged all the same
    await db.execute("UPDATE sevsync.dead_letter SET replayed_at = now() WHERE id = 2")
    await add_dead_letter(db, tenant="other")  # 3
    await add_malformed(db, b"\xff personal data, no tenant")  # 4
    await add_dead_letter(db)  # 5
    await add_dead_letter(db, tenant="other")  # 6
    await add_dead_letter(db)  # 7
    for dead_letter_id in (1, 2, 3, 4, 6):
        await age(db, dead_letter_id, 40)
    await age(db, 5, 10)


async def test_purge_deletes_old_dead_letters_open_and_replayed(db: asyncpg.Pool, settings: Settings) -> None:
    await seed(db)

    dry = await run_sevsync(settings, "dead", "purge", "--older-than", "30", "--dry-run")
    dry_acme = await run_sevsync(
        settings, "dead", "purge", "--older-than", "30", "--tenant", "acme", "--dry-run"
    )

    for result in (dry, dry_acme):
        assert result.returncode == 0, result.stderr
    assert (
        dry.stdout.strip() == "dry run: would delete 5 dead letters older than 30 days; nothing was deleted"
    )
    assert dry_acme.stdout.strip() == (
        "dry run: would delete 2 dead letters of tenant acme older than 30 days; nothing was deleted"
    )
    assert await remaining(db) == [1, 2, 3, 4, 5, 6, 7]

    acme = await run_sevsync(settings, "dead", "purge", "--older-than", "30", "--tenant", "acme")
    assert acme.returncode == 0, acme.stderr
    assert acme.stdout.strip() == "deleted 2 dead letters of tenant acme older than 30 days"
    assert await remaining(db) == [3, 4, 5, 6, 7]

    rest = await run_sevsync(settings, "dead", "purge", "--older-than", "30")
    assert rest.returncode == 0, rest.stderr
    assert rest.stdout.strip() == "deleted 3 dead letters older than 30 days"  # the malformed one too
    assert await remaining(db) == [5, 7]

    again = await run_sevsync(settings, "dead", "purge", "--older-than", "30")
    assert again.stdout.strip() == "deleted 0 dead letters older than 30 days"

    younger = await run_sevsync(settings, "dead", "purge", "--older-than", "1")
    assert younger.returncode == 0, younger.stderr
    assert younger.stdout.strip() == "deleted 1 dead letter older than 1 day"
    assert await remaining(db) == [7]  # died just now


async def test_purge_of_a_large_backlog_deletes_every_batch(db: asyncpg.Pool, settings: Settings) -> None:
    from sevsync.store.retention import PURGE_BATCH

    old = 2 * PURGE_BATCH + 17
    await db.execute(
        """
        INSERT INTO sevsync.dead_letter (tenant_id, reason, body, dead_at)
        SELECT 'acme', 'sevdesk_rejected', '{}'::bytea, now() - interval '90 days' FROM generate_series(1, $1)
        """,
        old,
    )
    await add_dead_letter(db)

    result = await run_sevsync(settings, "dead", "purge", "--older-than", "60")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"deleted {old} dead letters older than 60 days"
    assert await remaining(db) == [old + 1]


async def test_the_purge_query_can_use_the_dead_at_index(db: asyncpg.Pool) -> None:
    async with db.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")  # the table is tiny: force the choice
        plan = "\n".join(
            r[0] for r in await conn.fetch("EXPLAIN SELECT id FROM sevsync.dead_letter WHERE dead_at < now()")
        )
    assert "dead_letter_dead_at_idx" in plan


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "the following arguments are required: --older-than"),
        (["--older-than", "0"], "argument --older-than: expected 1 to 36500 days, got 0"),
        (["--older-than", "-5"], "argument --older-than: expected 1 to 36500 days, got -5"),
        (["--older-than", "36501"], "argument --older-than: expected 1 to 36500 days, got 36501"),
        (["--older-than", "1.5"], "argument --older-than: expected a whole number of days, got '1.5'"),
        (["--older-than", "abc"], "argument --older-than: expected a whole number of days, got 'abc'"),
    ],
)
async def test_usage_errors_are_one_line_and_delete_nothing(
    db: asyncpg.Pool, settings: Settings, args: list[str], message: str
) -> None:
    await seed(db)

    result = await run_sevsync(settings, "dead", "purge", *args)

    assert result.returncode == 2
    line = result.error_line()
    assert line.startswith("sevsync dead purge: error: ")
    assert message in line
    assert result.stdout == ""
    assert await remaining(db) == [1, 2, 3, 4, 5, 6, 7]


async def test_a_malformed_tenant_is_refused(db: asyncpg.Pool, settings: Settings) -> None:
    await seed(db)

    result = await run_sevsync(settings, "dead", "purge", "--older-than", "30", "--tenant", "not a tenant")

    assert result.returncode == 1
    assert result.error_line().startswith("sevsync: error: tenant id 'not a tenant'")
    assert await remaining(db) == [1, 2, 3, 4, 5, 6, 7]


async def test_help_says_open_and_replayed_are_purged() -> None:
    result = await sevsync("dead", "purge", "--help", env=clean_env())

    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert text.startswith("usage: sevsync dead purge")
    assert "open and replayed ones alike" in text
    for option in ("--older-than DAYS", "--tenant TENANT", "--dry-run"):
        assert option in text
