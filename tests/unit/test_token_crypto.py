"""Stored API tokens are Fernet-encrypted; keys rotate by putting a new key first."""

from __future__ import annotations

import base64

import pytest
from cryptography.fernet import Fernet

from sevsync.sevdesk.token import ApiToken
from sevsync.tenants.crypto import SecretKeyError, TokenCipher

TOKEN = "0123456789abcdef0123456789abcdef"


def new_key() -> str:
    return Fernet.generate_key().decode()


def test_roundtrip() -> None:
    cipher = TokenCipher(new_key())

    stored = cipher.encrypt(ApiToken(TOKEN))

    assert cipher.decrypt(stored) == ApiToken(TOKEN)
    assert cipher.decrypt(stored).reveal() == TOKEN


def test_ciphertext_does_not_contain_the_token() -> None:
    cipher = TokenCipher(new_key())

    stored = cipher.encrypt(ApiToken(TOKEN))

    assert stored.isascii()
    assert TOKEN not in stored
    assert TOKEN.encode() not in base64.urlsafe_b64decode(stored)
    assert cipher.encrypt(ApiToken(TOKEN)) != stored  # fresh IV each time: equal tokens do not look equal


def test_a_token_encrypted_with_another_key_is_refused_without_showing_it() -> None:
    stored = TokenCipher(new_key()).encrypt(ApiToken(TOKEN))

    with pytest.raises(SecretKeyError) as caught:
        TokenCipher(new_key()).decrypt(stored)

    assert TOKEN not in str(caught.value)
    assert caught.value.__cause__ is None


def test_garbage_is_refused() -> None:
    with pytest.raises(SecretKeyError):
        TokenCipher(new_key()).decrypt("not-a-fernet-token")


def test_old_key_still_decrypts_after_a_new_key_is_put_first() -> None:
    old, new = new_key(), new_key()
    stored_with_old = TokenCipher(old).encrypt(ApiToken(TOKEN))

    both = TokenCipher(f"{new},{old}")

    assert both.decrypt(stored_with_old).reveal() == TOKEN
    # New encryptions use the first key: the new key alone opens them.
    assert TokenCipher(new).decrypt(both.encrypt(ApiToken(TOKEN))).reveal() == TOKEN
    with pytest.raises(SecretKeyError):
        TokenCipher(old).decrypt(both.encrypt(ApiToken(TOKEN)))


def test_rotate_re_encrypts_with_the_first_key_so_the_old_key_can_be_dropped() -> None:
    old, new = new_key(), new_key()
    stored_with_old = TokenCipher(old).encrypt(ApiToken(TOKEN))

    rotated = TokenCipher(f"{new},{old}").rotate(stored_with_old)

    assert rotated != stored_with_old
    assert TokenCipher(new).decrypt(rotated).reveal() == TOKEN  # the old key is no longer needed
    with pytest.raises(SecretKeyError):
        TokenCipher(old).decrypt(rotated)


def test_rotate_without_a_matching_key_is_refused() -> None:
    stored = TokenCipher(new_key()).encrypt(ApiToken(TOKEN))
    with pytest.raises(SecretKeyError):
        TokenCipher(new_key()).rotate(stored)


def test_keys_are_trimmed_and_empty_entries_skipped() -> None:
    key = new_key()
    stored = TokenCipher(key).encrypt(ApiToken(TOKEN))

    assert TokenCipher(f"  {key} , ,").decrypt(stored).reveal() == TOKEN


@pytest.mark.parametrize(
    ("keys", "position"),
    [
        ("this-is-not-a-fernet-key-0123456789", 1),
        ("c2hvcnQ=", 1),  # valid base64, but not 32 bytes
        (f"{Fernet.generate_key().decode()},this-is-not-a-fernet-key-0123456789", 2),
    ],
)
def test_invalid_key_text_is_refused_without_echoing_the_key(keys: str, position: int) -> None:
    with pytest.raises(SecretKeyError) as caught:
        TokenCipher(keys)

    message = str(caught.value)
    assert f"key {position}" in message
    for key in keys.split(","):
        assert key not in message
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


@pytest.mark.parametrize("keys", [None, "", "   ", " , ,"])
def test_missing_keys_are_refused(keys: str | None) -> None:
    with pytest.raises(SecretKeyError, match="SEVSYNC_SECRET_KEYS"):
        TokenCipher(keys)


def test_secret_key_error_is_a_value_error() -> None:
    assert issubclass(SecretKeyError, ValueError)
