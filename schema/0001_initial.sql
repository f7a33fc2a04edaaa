-- sevsync's own tables. Everything lives in schema `sevsync` so that dashboards and other tools
-- sharing the database see exactly what is ours. Column names of CONTRACT section 7 never change.

CREATE SCHEMA IF NOT EXISTS sevsync;

-- One row per tenant: which accounting integration it uses and how.
CREATE TABLE sevsync.tenant_integration (
    tenant_id       text PRIMARY KEY CHECK (tenant_id ~ '^[A-Za-z0-9_.-]{1,64}$'),
    provider        text NOT NULL DEFAULT 'sevdesk',
    status          text NOT NULL CHECK (status IN ('connected', 'auth_failed', 'disconnected')),
    enabled         boolean NOT NULL DEFAULT false,
    settings        jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- Fernet token (MultiFernet, first key of SEVSYNC_SECRET_KEYS); never the clear API token.
    token_encrypted text,
    connected_at    timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- One row per processing attempt of an event; the newest row of an event is its current state.
CREATE TABLE sevsync.sync_outcome (
    id             bigserial PRIMARY KEY,
    event_id       uuid NOT NULL,
    tenant_id      text NOT NULL,
    event_type     text NOT NULL,
    entity_type    text NOT NULL,
    entity_id      text NOT NULL,
    status         text NOT NULL
                   CHECK (status IN ('succeeded', 'skipped', 'retrying', 'parked', 'failed', 'dead')),
    reason         text,
    attempt        integer NOT NULL DEFAULT 1,
    sevdesk_object text,
    sevdesk_id     text,
    api_calls      integer NOT NULL DEFAULT 0,
    duration_ms    integer,
    error          text,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sync_outcome_event_idx ON sevsync.sync_outcome (event_id, id DESC);
CREATE INDEX sync_outcome_entity_idx ON sevsync.sync_outcome (tenant_id, entity_type, entity_id, id DESC);
CREATE INDEX sync_outcome_tenant_time_idx ON sevsync.sync_outcome (tenant_id, created_at DESC);

-- CRM entity -> sevDesk object. `details` keeps the ids of dependent objects (address, e-mail and
-- phone entries, contact person) so that an update changes them in place instead of adding more.
CREATE TABLE sevsync.entity_link (
    tenant_id      text NOT NULL,
    entity_type    text NOT NULL CHECK (entity_type IN ('customer', 'product', 'deal_order', 'deal_invoice',
                                                        'invoice_voucher', 'cancellation', 'payment')),
    entity_id      text NOT NULL,
    sevdesk_object text NOT NULL,
    sevdesk_id     text NOT NULL,
    sevdesk_number text,
    synced_version bigint,
    synced_at      timestamptz NOT NULL DEFAULT now(),
    payload_hash   text,
    details        jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (tenant_id, entity_type, entity_id)
);
CREATE INDEX entity_link_sevdesk_idx ON sevsync.entity_link (tenant_id, sevdesk_object, sevdesk_id);

-- Events whose outcome was final and applied or deliberately skipped: a redelivery is a duplicate.
CREATE TABLE sevsync.inbox (
    event_id     uuid PRIMARY KEY,
    tenant_id    text NOT NULL,
    event_type   text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
);

-- Messages sevsync could not apply. `body` is the raw bytes as received (may not even be UTF-8).
CREATE TABLE sevsync.dead_letter (
    id          bigserial PRIMARY KEY,
    event_id    uuid,
    tenant_id   text,
    event_type  text,
    reason      text NOT NULL,
    error       text,
    attempts    integer NOT NULL DEFAULT 1,
    body        bytea NOT NULL,
    dead_at     timestamptz NOT NULL DEFAULT now(),
    replayed_at timestamptz
);
CREATE INDEX dead_letter_open_idx ON sevsync.dead_letter (tenant_id, reason) WHERE replayed_at IS NULL;
CREATE INDEX dead_letter_event_idx ON sevsync.dead_letter (event_id);

-- Transactional outbox: outbound events are written with the outcome, then published; a relay
-- publishes whatever a crash left behind.
CREATE TABLE sevsync.outbox (
    id           bigserial PRIMARY KEY,
    event_id     uuid NOT NULL UNIQUE,
    routing_key  text NOT NULL,
    body         bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished_idx ON sevsync.outbox (id) WHERE published_at IS NULL;

-- A create about to be sent to sevDesk, with the business key sevsync can find its effect by.
-- Written (and committed) before the call; removed with the final outcome. A row left behind means
-- the answer to that create was lost, so the next attempt looks for the object before creating.
CREATE TABLE sevsync.write_intent (
    tenant_id      text NOT NULL,
    entity_type    text NOT NULL,
    entity_id      text NOT NULL,
    sevdesk_object text NOT NULL,
    business_key   text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, entity_type, entity_id, sevdesk_object)
);

-- Dashboards: the newest outcome of each entity (redelivered duplicates do not change it).
CREATE VIEW sevsync.entity_status AS
SELECT DISTINCT ON (o.tenant_id, o.entity_type, o.entity_id)
       o.tenant_id, o.entity_type, o.entity_id, o.event_id, o.event_type, o.status, o.reason,
       o.sevdesk_object, o.sevdesk_id, o.error, o.created_at AS updated_at
FROM sevsync.sync_outcome o
WHERE o.reason IS DISTINCT FROM 'duplicate'
ORDER BY o.tenant_id, o.entity_type, o.entity_id, o.id DESC;

-- Dashboards: one row per tenant with the last 24 hours at a glance.
CREATE VIEW sevsync.tenant_health AS
SELECT t.tenant_id,
       t.provider,
       t.status AS integration_status,
       t.enabled,
       count(o.id) FILTER (WHERE o.status = 'succeeded') AS succeeded_24h,
       count(o.id) FILTER (WHERE o.status = 'skipped')   AS skipped_24h,
       count(o.id) FILTER (WHERE o.status = 'retrying')  AS retrying_24h,
       count(o.id) FILTER (WHERE o.status = 'parked')    AS parked_24h,
       count(o.id) FILTER (WHERE o.status = 'failed')    AS failed_24h,
       count(o.id) FILTER (WHERE o.status = 'dead')      AS dead_24h,
       (SELECT max(s.created_at) FROM sevsync.sync_outcome s
         WHERE s.tenant_id = t.tenant_id AND s.status = 'succeeded') AS last_success_at,
       (SELECT max(f.created_at) FROM sevsync.sync_outcome f
         WHERE f.tenant_id = t.tenant_id AND f.status IN ('failed', 'dead')) AS last_failure_at,
       (SELECT count(*) FROM sevsync.dead_letter d
         WHERE d.tenant_id = t.tenant_id AND d.replayed_at IS NULL) AS open_dead_letters
FROM sevsync.tenant_integration t
LEFT JOIN sevsync.sync_outcome o
       ON o.tenant_id = t.tenant_id AND o.created_at > now() - interval '24 hours'
GROUP BY t.tenant_id, t.provider, t.status, t.enabled;

-- Events of a tenant whose token sevDesk refused. They wait here, unspent, until the tenant is
-- connected again with a working token; then they are published to the work queue once more.
CREATE TABLE sevsync.parked_event (
    event_id   uuid PRIMARY KEY,
    tenant_id  text NOT NULL,
    event_type text NOT NULL,
    body       bytea NOT NULL,
    parked_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX parked_event_tenant_idx ON sevsync.parked_event (tenant_id, parked_at);
