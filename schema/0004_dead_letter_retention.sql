-- Dead-letter retention (`sevsync dead purge --older-than DAYS`): the purge selects by age.
--
-- Migrations run inside a transaction, so this cannot be CREATE INDEX CONCURRENTLY, and building it
-- blocks inserts into dead_letter meanwhile. On a large table, create it by hand first with
-- `CREATE INDEX CONCURRENTLY dead_letter_dead_at_idx ON sevsync.dead_letter (dead_at)`; this
-- migration then finds it and does nothing. (A concurrent build that failed leaves an invalid index
-- of that name behind: drop it before migrating.)
CREATE INDEX IF NOT EXISTS dead_letter_dead_at_idx ON sevsync.dead_letter (dead_at);
