"""The decrypted-token cache: bounded, least recently used out first, and never an old token after a
connect, a key rotation or a disconnect."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from sevsync.sevdesk.token import ApiToken
from sevsync.tenants.crypto import SecretKeyError, TokenCipher
from sevsync.tenants.token_cache import MAX_CACHED_TOKENS, TokenCache

KEY_A, KEY_B = Fernet.generate_key().decode(), Fernet.generate_key().decode()


class CountingCipher(TokenCipher):
    def __init__(self, keys: str) -> None:
        super().__init__(keys)
        self.decrypted = 0

    def decrypt(self, stored: str) -> ApiToken:
        self.decrypted += 1
        return super().decrypt(stored)


def test_a_tenants_token_is_decrypted_once_for_its_stored_ciphertext() -> None:
    cipher = CountingCipher(KEY_A)
    cache = TokenCache(cipher)
    stored = cipher.encrypt(ApiToken("token-one"))
    assert cache.token("acme", stored).reveal() == "token-one"
    assert cache.token("acme", stored).reveal() == "token-one"
    assert cipher.decrypted == 1


def test_the_bound_holds_and_the_least_recently_used_tenant_goes_first() -> None:
    cipher = CountingCipher(KEY_A)
    cache = TokenCache(cipher, max_tenants=2)
    stored = {t: cipher.encrypt(ApiToken(f"token-of-{t}")) for t in ("a", "b", "c")}
    cache.token("a", stored["a"])
    cache.token("b", stored["b"])
    cache.token("a", stored["a"])  # a is used more recently than b now
    cache.token("c", stored["c"])
    assert len(cache) == 2
    assert "b" not in cache
    assert "a" in cache
    assert "c" in cache
    assert cipher.decrypted == 3
    cache.token("b", stored["b"])
    assert cipher.decrypted == 4  # b was decrypted again, a went out for it
    assert "a" not in cache


def test_the_default_bound() -> None:
    cipher = TokenCipher(KEY_A)
    cache = TokenCache(cipher)
    stored = cipher.encrypt(ApiToken("t"))
    for n in range(MAX_CACHED_TOKENS + 1):
        cache.token(f"tenant-{n}", stored)
    assert len(cache) == MAX_CACHED_TOKENS
    assert "tenant-0" not in cache


def test_a_new_connect_is_served_its_new_token() -> None:
    cipher = TokenCipher(KEY_A)
    cache = TokenCache(cipher)
    assert cache.token("acme", cipher.encrypt(ApiToken("token-one"))).reveal() == "token-one"
    # Connected again (after a disconnect, which leaves no ciphertext to ask with): a new ciphertext.
    assert cache.token("acme", cipher.encrypt(ApiToken("token-two"))).reveal() == "token-two"
    assert len(cache) == 1


def test_a_rotated_ciphertext_is_decrypted_again() -> None:
    old = CountingCipher(KEY_A)
    stored = old.encrypt(ApiToken("token-one"))
    cipher = CountingCipher(f"{KEY_B},{KEY_A}")
    cache = TokenCache(cipher)
    assert cache.token("acme", stored).reveal() == "token-one"
    assert cache.token("acme", cipher.rotate(stored)).reveal() == "token-one"
    assert cipher.decrypted == 2


def test_a_ciphertext_of_a_retired_key_is_refused_not_served_from_a_cache() -> None:
    before = TokenCipher(f"{KEY_B},{KEY_A}")
    stored = before.encrypt(ApiToken("token-one"))
    TokenCache(before).token("acme", stored)
    # A cache is its cipher's: the process that dropped key B has a cipher and a cache of its own.
    with pytest.raises(SecretKeyError):
        TokenCache(TokenCipher(KEY_A)).token("acme", stored)


def test_a_ciphertext_that_cannot_be_opened_drops_the_tenants_old_token() -> None:
    cipher = CountingCipher(KEY_A)
    cache = TokenCache(cipher)
    cache.token("acme", cipher.encrypt(ApiToken("token-one")))
    with pytest.raises(SecretKeyError):
        cache.token("acme", TokenCipher(KEY_B).encrypt(ApiToken("token-two")))
    assert "acme" not in cache


def test_the_cache_shows_no_token() -> None:
    cipher = TokenCipher(KEY_A)
    cache = TokenCache(cipher)
    stored = cipher.encrypt(ApiToken("token-one"))
    cache.token("acme", stored)
    assert "token-one" not in repr(cache)
    assert stored not in repr(cache)
    assert repr(cache) == f"TokenCache(1 of {MAX_CACHED_TOKENS} tenants)"


def test_a_cache_holds_one_tenant_at_least() -> None:
    with pytest.raises(ValueError, match="at least one"):
        TokenCache(TokenCipher(KEY_A), max_tenants=0)
