"""The one account the sandbox tests talk to, and the token that reaches it."""

from __future__ import annotations

TOKEN = "0123456789abcdef0123456789abcdef"
