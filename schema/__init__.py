"""The Postgres schema of sevsync as numbered SQL migrations (NNNN_name.sql), shipped as package data."""
