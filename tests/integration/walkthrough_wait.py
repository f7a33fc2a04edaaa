"""Waits until an event has a final outcome; run as a script between the README walkthrough's steps.

`python walkthrough_wait.py EVENT_ID` polls the database of SEVSYNC_DATABASE_URL (the walkthrough has
exported it by then) and exits 0 once the event's outcome is final, 1 if none came in time. It judges
nothing: the walkthrough's own last step reads the outcome back, and the test checks that.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid

import asyncpg

FINAL = ["succeeded", "skipped", "failed", "dead", "parked"]
# Only a bound on a hang: a loaded machine may take long, a working one never this long.
GIVE_UP_AFTER = 120.0
POLL_EVERY = 0.2


async def wait_for_final_outcome(database_url: str, event_id: uuid.UUID) -> bool:
    conn = await asyncpg.connect(database_url)
    try:
        for _ in range(int(GIVE_UP_AFTER / POLL_EVERY)):
            found = await conn.fetchval(
                "SELECT 1 FROM sevsync.sync_outcome WHERE event_id = $1 AND status = ANY($2::text[])",
                event_id,
                FINAL,
            )
            if found:
                return True
            await asyncio.sleep(POLL_EVERY)
        return False
    finally:
        await conn.close()


def main() -> int:
    [event_id] = sys.argv[1:]
    if asyncio.run(wait_for_final_outcome(os.environ["SEVSYNC_DATABASE_URL"], uuid.UUID(event_id))):
        return 0
    print(f"walkthrough: event {event_id} has no final outcome after {GIVE_UP_AFTER:.0f} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
