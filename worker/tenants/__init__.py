"""Tenants: their connection to sevDesk, their settings, and the encryption of their tokens."""
