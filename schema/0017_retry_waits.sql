-- Deliveries waiting to be tried again (a transient failure, or a deferral while their tenant held
-- its share), one row each until the relay has put the copy back on the work queue and the broker
-- has confirmed it. Held here, not in broker queues with a TTL, so that a wait survives the loss of
-- any RabbitMQ node and never depends on the broker's dead-lettering.
--   queue       the work queue the copy goes back to
--   due_at      when it goes back (Postgres's clock, the one every worker shares)
--   body        the delivery's body, unchanged
--   headers     the copy's AMQP headers, encoded as an AMQP field table (retries and deferrals
--               counted in, see worker/broker/headers.py)
--   content_type, message_id   the delivery's properties, kept for the copy
CREATE TABLE sevsync.retry_wait (
    id           bigserial PRIMARY KEY,
    queue        text NOT NULL,
    due_at       timestamptz NOT NULL,
    body         bytea NOT NULL,
    headers      bytea NOT NULL,
    content_type text,
    message_id   text,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX retry_wait_due ON sevsync.retry_wait (queue, due_at, id);
