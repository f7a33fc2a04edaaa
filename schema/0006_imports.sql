-- `sevsync import TENANT contacts|parts`: sevDesk records offered to the CRM as contact.imported /
-- part.imported events.

-- One row per tenant and kind: the latest run. An unfinished run (finished_at IS NULL) is continued
-- from next_offset; a finished one is started again at 0. Counts are of the whole run, resumed
-- parts included. `total` is the number of records sevDesk listed: set when a run finishes, and
-- kept while the next one runs, as its estimate.
CREATE TABLE sevsync.import_run (
    tenant_id   text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('contacts', 'parts')),
    next_offset integer NOT NULL DEFAULT 0 CHECK (next_offset >= 0),
    imported    integer NOT NULL DEFAULT 0 CHECK (imported >= 0),
    skipped     integer NOT NULL DEFAULT 0 CHECK (skipped >= 0),
    invalid     integer NOT NULL DEFAULT 0 CHECK (invalid >= 0),
    total       integer CHECK (total >= 0),
    started_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    PRIMARY KEY (tenant_id, kind)
);

-- Every sevDesk record published to the CRM (after the broker confirmed it), so that a later run
-- skips it. `event_id` is the event it went out in.
CREATE TABLE sevsync.imported_record (
    tenant_id      text NOT NULL,
    sevdesk_object text NOT NULL CHECK (sevdesk_object IN ('Contact', 'Part')),
    sevdesk_id     text NOT NULL,
    event_id       uuid NOT NULL,
    imported_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, sevdesk_object, sevdesk_id)
);
