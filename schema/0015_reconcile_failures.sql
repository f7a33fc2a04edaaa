-- A reconciliation run's failure per tenant and kind, for the operator (`sevsync reconcile --status`):
--   last_error      what stopped the kind's last run (sevDesk's answer or the exception); NULL once a
--                   later run of the kind finished
--   last_failed_at  when a run of the kind last failed (kept after a later success)
ALTER TABLE sevsync.reconcile_cursor
    ADD COLUMN last_error text,
    ADD COLUMN last_failed_at timestamptz;
