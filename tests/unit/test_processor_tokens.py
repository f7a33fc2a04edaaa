"""The processor's sevDesk token: decrypted once per tenant and stored token, and the new one after
the tenant is connected again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from cryptography.fernet import Fernet

from sevsync.sevdesk.token import ApiToken
from sevsync.store.outbox import OutboxMessage
from sevsync.sync.processor import Processor
from sevsync.sync.throttle import Throttle

from .fake_event_store import FakeEventStore
from .test_processor import CUSTOMER_HANDLER, SCHEDULE, FakeSevdesk, body, tenant
from .test_token_cache import CountingCipher


class TokenSeeingSevdesk(FakeSevdesk):
    def __init__(self) -> None:
        super().__init__()
        self.tokens: list[str] = []

    async def request(self, token: ApiToken, method: str, path: str, **kwargs: Any) -> Any:
        self.tokens.append(token.reveal())
        return await super().request(token, method, path, **kwargs)


async def _flush(messages: Sequence[OutboxMessage]) -> None:
    pass


def _processor(store: FakeEventStore, sevdesk: FakeSevdesk, cipher: CountingCipher) -> Processor:
    return Processor(
        store=store,
        client=sevdesk,
        cipher=cipher,
        flush_outbox=_flush,
        max_body_bytes=100_000,
        schedule=SCHEDULE,
        handlers={"customer.created": CUSTOMER_HANDLER},
        throttle=Throttle(concurrency=4, tenant_concurrency=1),
    )


async def test_events_of_a_tenant_decrypt_its_token_once_and_a_new_connect_uses_the_new_token() -> None:
    cipher = CountingCipher(Fernet.generate_key().decode())
    sevdesk = TokenSeeingSevdesk()
    connected = tenant(cipher=cipher)
    store = FakeEventStore(tenants={"acme": connected})
    processor = _processor(store, sevdesk, cipher)

    await processor.process(body(version=1))
    await processor.process(body(version=2))
    assert cipher.decrypted == 1

    store.tenants["acme"] = replace(connected, status="disconnected", token_encrypted=None)
    await processor.process(body(version=3))  # skipped: nothing to decrypt
    store.tenants["acme"] = replace(connected, token_encrypted=cipher.encrypt(ApiToken("token-two")))
    await processor.process(body(version=4))

    assert sevdesk.tokens == ["token-of-acme", "token-of-acme", "token-two"]
    assert cipher.decrypted == 2
