"""The processor as the worker's settings configure it (app.py wires it to the broker and the store)."""

from __future__ import annotations

from .config import Settings
from .retry_schedule import RetrySchedule
from .sevdesk.client import SevdeskClient
from .sync.document_fetch import DocumentFetcher
from .sync.document_intake import DocumentIntake
from .sync.document_urls import parse_prefixes
from .sync.event_store import EventStore
from .sync.processor import OutboxFlusher, Processor
from .sync.throttle import Throttle
from .tenants.crypto import TokenCipher


def processor_from_settings(
    s: Settings,
    store: EventStore,
    client: SevdeskClient,
    cipher: TokenCipher,
    flush_outbox: OutboxFlusher,
    schedule: RetrySchedule,
    fetcher: DocumentFetcher,
) -> Processor:
    return Processor(
        store=store,
        client=client,
        cipher=cipher,
        flush_outbox=flush_outbox,
        max_body_bytes=s.max_body_bytes,
        schedule=schedule,
        settle_seconds=s.write_settle_seconds,
        throttle=Throttle(
            concurrency=s.concurrency,
            tenant_concurrency=s.tenant_concurrency,
            tenant_requests_per_second=s.tenant_requests_per_second,
        ),
        documents=DocumentIntake(s.max_document_bytes, parse_prefixes(s.document_url_prefixes), fetcher),
    )
