"""Decrypted sevDesk tokens of the tenants seen last, so that an event costs no decryption.

An entry holds the ciphertext it was decrypted from and is served only for that same ciphertext: a
new connect and `sevsync keys rotate` store a new ciphertext (Fernet encrypts with a fresh IV and
time), so the old token is never served after them, and a disconnected tenant has no ciphertext to
ask with. A cache belongs to one `TokenCipher`, whose keys never change: a process with other keys
has another cipher and so another cache, and a ciphertext only a retired key opens is decrypted
there, i.e. refused, never served from an older cache.
"""

from __future__ import annotations

from collections import OrderedDict

from ..sevdesk.token import ApiToken
from .crypto import TokenCipher

# Tenants whose tokens stay decrypted; the least recently used one beyond makes room.
MAX_CACHED_TOKENS = 1024


class TokenCache:
    def __init__(self, cipher: TokenCipher, max_tenants: int = MAX_CACHED_TOKENS) -> None:
        if max_tenants < 1:
            raise ValueError("the token cache must hold at least one tenant")
        self._cipher = cipher
        self._max_tenants = max_tenants
        # tenant id -> (the stored ciphertext, its token)
        self._entries: OrderedDict[str, tuple[str, ApiToken]] = OrderedDict()

    def token(self, tenant_id: str, stored: str) -> ApiToken:
        """The token `stored` decrypts to; raises crypto.SecretKeyError as `TokenCipher.decrypt` does."""
        entry = self._entries.get(tenant_id)
        if entry is not None and entry[0] == stored:
            self._entries.move_to_end(tenant_id)
            return entry[1]
        # One entry per tenant: a changed ciphertext drops its old token, even if it cannot be opened.
        self._entries.pop(tenant_id, None)
        token = self._cipher.decrypt(stored)
        self._entries[tenant_id] = (stored, token)
        self._entries.move_to_end(tenant_id)
        while len(self._entries) > self._max_tenants:
            self._entries.popitem(last=False)
        return token

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, tenant_id: object) -> bool:
        return tenant_id in self._entries

    def __repr__(self) -> str:
        # Never the tokens, nor the ciphertexts.
        return f"TokenCache({len(self._entries)} of {self._max_tenants} tenants)"
