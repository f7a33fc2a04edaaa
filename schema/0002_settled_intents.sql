-- An intent whose attempt ended with an answer (failed or dead, not a crash) has no create in flight:
-- a later attempt may create at once instead of waiting out the settle window. The intent itself is
-- kept, because it still names the business key (e.g. an allocated customer number).
ALTER TABLE sevsync.write_intent ADD COLUMN settled boolean NOT NULL DEFAULT false;
