"""Encryption of stored API tokens with Fernet keys from `SEVSYNC_SECRET_KEYS`.

The first key encrypts; every key decrypts, so a new key can be put in front and the stored tokens
re-encrypted before the old key is dropped (`sevsync keys rotate`).
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from ..sevdesk.token import ApiToken


class SecretKeyError(ValueError):
    """The configured keys are missing or malformed, or none of them opens a stored token."""


class TokenCipher:
    def __init__(self, keys: str | None) -> None:
        if not keys or not keys.strip():
            raise SecretKeyError(
                "SEVSYNC_SECRET_KEYS is not set; generate a key with "
                "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`"
            )
        fernets: list[Fernet] = []
        for position, key in enumerate((k.strip() for k in keys.split(",")), start=1):
            if not key:
                continue
            try:
                fernets.append(Fernet(key.encode()))
            except ValueError:
                # Never echo the key itself.
                raise SecretKeyError(
                    f"key {position} of SEVSYNC_SECRET_KEYS is not a Fernet key (32 url-safe base64 bytes)"
                ) from None
        if not fernets:
            raise SecretKeyError("SEVSYNC_SECRET_KEYS holds no key")
        self._fernet = MultiFernet(fernets)

    def encrypt(self, token: ApiToken) -> str:
        return self._fernet.encrypt(token.reveal().encode()).decode("ascii")

    def decrypt(self, stored: str) -> ApiToken:
        try:
            return ApiToken(self._fernet.decrypt(stored.encode("ascii")).decode())
        except (InvalidToken, UnicodeError):  # not a Fernet token at all
            raise SecretKeyError("no key in SEVSYNC_SECRET_KEYS decrypts the stored token") from None

    def rotate(self, stored: str) -> str:
        """Re-encrypt with the first key."""
        try:
            return self._fernet.rotate(stored.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError):  # not a Fernet token at all
            raise SecretKeyError("no key in SEVSYNC_SECRET_KEYS decrypts the stored token") from None
