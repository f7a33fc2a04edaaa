-- sevsync adopts only what is its own (CONTRACT section 8). A key sevsync made up itself (a customer
-- number it drew from sevDesk's sequence, a deal invoice's marker) can be taken by a person in sevDesk
-- before a failed create is tried again; an object found by such a key is sevsync's only when its
-- identifying fields are the ones sevsync sent.

-- Fingerprints of the identifying fields sevsync sent for the object an intent stands for: its
-- create's, written with the intent before the create, so the proof survives a crash and a newer
-- version of the entity arriving before the retry; and those of updates sevsync sent to the object
-- after adopting it, before its link was recorded. NULL for intents of other writes (and of older
-- versions).
ALTER TABLE sevsync.write_intent ADD COLUMN sent_fingerprints text[];

-- Keys sevsync gave up because someone else's object holds them: never used for a create again.
CREATE TABLE sevsync.given_up_key (
    tenant_id      text NOT NULL,
    sevdesk_object text NOT NULL,
    business_key   text NOT NULL,
    -- The CRM entity whose create had drawn the key.
    entity_type    text NOT NULL,
    entity_id      text NOT NULL,
    given_up_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, sevdesk_object, business_key)
);
CREATE INDEX given_up_key_entity ON sevsync.given_up_key (tenant_id, entity_type, entity_id);
