"""`sevsync keys rotate`: stored tokens re-encrypted with the first key, run as a real subprocess.

Commands run through `asyncio.create_subprocess_exec`, awaited, because the sandbox serves from this
test's event loop. Every command's output is checked for every token, key and ciphertext involved.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest
from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr

from sevsync.config import Settings
from sevsync.sandbox.server import SandboxServer
from sevsync.sevdesk.token import ApiToken
from sevsync.tenants.crypto import TokenCipher
from sevsync.tenants.service import disconnect_tenant

from ..cli_runner import Result, clean_env, sevsync
from ..samples import product
from .harness import add_tenant, envelope, publish, running_worker, wait_for_outcomes

TENANTS = ("acme", "beta", "gamma")


async def rotate(settings: Settings, keys: str | None, secrets: list[str], *args: str) -> Result:
    """`sevsync keys rotate` against this test's database with SEVSYNC_SECRET_KEYS = `keys`."""
    env = clean_env() | {"SEVSYNC_DATABASE_URL": settings.database_url.get_secret_value()}
    if keys is not None:
        env["SEVSYNC_SECRET_KEYS"] = keys
    return await sevsync("keys", "rotate", *args, env=env, secrets=secrets)


async def stored(db: asyncpg.Pool) -> dict[str, str | None]:
    rows = await db.fetch("SELECT tenant_id, token_encrypted FROM sevsync.tenant_integration")
    return {row["tenant_id"]: row["token_encrypted"] for row in rows}


async def table_text(db: asyncpg.Pool) -> str:
    """Every column of every tenant row, as Postgres prints it."""
    rows = await db.fetch("SELECT t::text AS row FROM sevsync.tenant_integration t")
    return "\n".join(row["row"] for row in rows)


async def test_rotate_moves_every_token_to_the_first_key(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, secret_key: str
) -> None:
    key_a, key_b = secret_key, Fernet.generate_key().decode()
    tokens = {tenant: await add_tenant(db, settings, sandbox, tenant) for tenant in TENANTS}
    await add_tenant(db, settings, sandbox, "gone")
    await disconnect_tenant(db, "gone")  # no token left: nothing to rotate
    # Another integration's row holds its own token under keys that are not sevsync's: left alone.
    lexware = Fernet(Fernet.generate_key()).encrypt(b"lexware-token").decode()
    await db.execute(
        "INSERT INTO sevsync.tenant_integration (tenant_id, provider, status, token_encrypted) "
        "VALUES ('other', 'lexware', 'connected', $1)",
        lexware,
    )
    before = await stored(db)
    secrets = [key_a, key_b, *tokens.values(), *(before[t] or "" for t in TENANTS)]

    result = await rotate(settings, f"{key_b},{key_a}", secrets)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "re-encrypted 3 tokens"
    assert result.stderr == ""
    after = await stored(db)
    assert (after["gone"], after["other"]) == (None, lexware)
    only_b = TokenCipher(key_b)
    for tenant, token in tokens.items():
        ciphertext = after[tenant]
        assert ciphertext is not None
        assert ciphertext != before[tenant]
        assert only_b.decrypt(ciphertext).reveal() == token
        with pytest.raises(InvalidToken):
            Fernet(key_a.encode()).decrypt(ciphertext.encode())
    text = await table_text(db)
    assert not any(token in text for token in tokens.values())

    # A worker that knows only the new key syncs every tenant, each with its own sevDesk account.
    events = {tenant: envelope("product.created", product(), tenant=tenant) for tenant in TENANTS}
    async with running_worker(settings.model_copy(update={"secret_keys": SecretStr(key_b)})):
        await publish(settings, *events.values())
        outcomes = await wait_for_outcomes(db, *events.values())
    assert [(o["status"], o["error"]) for o in outcomes] == [("succeeded", None)] * len(TENANTS)
    for token in tokens.values():
        assert len(sandbox.sandbox.account(token).objects("Part")) == 1

    # Rotating again (the old key dropped) changes the ciphertexts, never the tokens.
    again = await rotate(settings, key_b, secrets)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "re-encrypted 3 tokens"
    final = await stored(db)
    for tenant, token in tokens.items():
        ciphertext = final[tenant]
        assert ciphertext is not None
        assert only_b.decrypt(ciphertext).reveal() == token


async def test_tokens_no_key_decrypts_are_named_and_left_alone(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, secret_key: str
) -> None:
    key_a, key_b, lost_key = secret_key, Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = await add_tenant(db, settings, sandbox, "acme")
    lost = Fernet(lost_key.encode()).encrypt(b"0123456789abcdef0123456789abcdef").decode()
    for tenant, ciphertext in (("lost", lost), ("mangled", "not-a-fernet-token-ü")):
        await db.execute(
            "INSERT INTO sevsync.tenant_integration (tenant_id, provider, status, token_encrypted) "
            "VALUES ($1, 'sevdesk', 'connected', $2)",
            tenant,
            ciphertext,
        )
    before = await stored(db)
    secrets = [key_a, key_b, lost_key, token, lost, "not-a-fernet-token", before["acme"] or ""]

    result = await rotate(settings, f"{key_b},{key_a}", secrets)

    assert result.returncode == 1
    assert result.stdout.strip() == "re-encrypted 1 token"  # the good ones are done all the same
    line = result.error_line()
    assert line.startswith("sevsync: error: no key in SEVSYNC_SECRET_KEYS decrypts")
    assert "tenants lost, mangled;" in line
    assert "acme" not in line
    after = await stored(db)
    assert (after["lost"], after["mangled"]) == (lost, "not-a-fernet-token-ü")
    assert after["acme"] is not None
    assert TokenCipher(key_b).decrypt(after["acme"]).reveal() == token


async def test_a_connect_waiting_on_the_row_is_not_lost(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, secret_key: str
) -> None:
    key_a, key_b = secret_key, Fernet.generate_key().decode()
    old_token = await add_tenant(db, settings, sandbox, "acme")
    new_token = "f" * 32
    new_cipher = TokenCipher(f"{key_b},{key_a}")
    secrets = [key_a, key_b, old_token, new_token]

    # A connect that holds the row when the rotation reaches it: the rotation must wait, then
    # re-encrypt the token the connect stored, not the one it saw before.
    async with db.acquire() as conn, conn.transaction():
        await conn.execute("SELECT 1 FROM sevsync.tenant_integration WHERE tenant_id = 'acme' FOR UPDATE")
        rotation = asyncio.create_task(rotate(settings, f"{key_b},{key_a}", secrets))
        deadline = time.monotonic() + 20
        while not await db.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        ):
            assert not rotation.done(), (await rotation).stderr
            assert time.monotonic() < deadline, "the rotation never waited for the row lock"
            await asyncio.sleep(0.05)
        await conn.execute(
            "UPDATE sevsync.tenant_integration SET token_encrypted = $1 WHERE tenant_id = 'acme'",
            new_cipher.encrypt(ApiToken(new_token)),
        )
    result = await rotation

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "re-encrypted 1 token"
    ciphertext = (await stored(db))["acme"]
    assert ciphertext is not None
    assert TokenCipher(key_b).decrypt(ciphertext).reveal() == new_token


async def test_nothing_to_rotate(db: asyncpg.Pool, settings: Settings, secret_key: str) -> None:
    result = await rotate(settings, secret_key, [secret_key])

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "re-encrypted 0 tokens"


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (None, "SEVSYNC_SECRET_KEYS is not set"),
        ("not-a-key", "key 1 of SEVSYNC_SECRET_KEYS is not a Fernet key"),
    ],
)
async def test_without_usable_keys_nothing_changes(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, keys: str | None, message: str
) -> None:
    token = await add_tenant(db, settings, sandbox, "acme")
    before = await stored(db)

    result = await rotate(settings, keys, [token] + ([keys] if keys else []))

    assert result.returncode == 1
    line = result.error_line()
    assert line.startswith("sevsync: error: ")
    assert message in line
    assert result.stdout == ""
    assert await stored(db) == before


@pytest.mark.parametrize("command", [("keys",), ("keys", "rotate")], ids=" ".join)
async def test_help(command: tuple[str, ...]) -> None:
    result = await sevsync(*command, "--help", env=clean_env())

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: sevsync {' '.join(command)}")
    assert "first key of" in " ".join(result.stdout.split())
