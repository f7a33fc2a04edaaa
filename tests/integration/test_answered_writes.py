"""Writes sevDesk answered 500 or 503, as opposed to writes whose answer never came (CONTRACT section 8).

An answered 500/503 has ended on sevDesk's side: sevsync looks once for its effect and, when there is
none, writes again within the in-process budget; only a write that may still be in flight waits the
settle window. The client itself repeats only idempotent writes (field updates, deletes).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sevsync.sandbox import Account, SandboxServer
from sevsync.sevdesk.api import SevdeskApi
from sevsync.sevdesk.client import ApiToken, RetryPolicy, SevdeskClient
from sevsync.sevdesk.errors import AnsweredWriteError, UncertainWriteError

TOKEN = "answered-writes-0123456789abcdef"
CUSTOMER_CATEGORY = {"id": 3, "objectName": "Category"}


@pytest.fixture
def account(sandbox: SandboxServer) -> Account:
    return sandbox.sandbox.add_account(TOKEN)


@pytest.fixture
async def api(sandbox: SandboxServer, account: Account) -> AsyncIterator[SevdeskApi]:
    async with SevdeskClient(sandbox.base_url, retry=RetryPolicy(attempts=3, budget_seconds=10)) as client:
        yield SevdeskApi(client, ApiToken(TOKEN))


# --- the client's classification ----------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 503])
async def test_a_create_answered_500_or_503_is_an_answered_write_sent_once(
    status: int, sandbox: SandboxServer, account: Account, api: SevdeskApi
) -> None:
    sandbox.sandbox.faults.add(
        kind="status", status=status, code=4242, message="Wartung", method="POST", times=None
    )

    with pytest.raises(AnsweredWriteError) as caught:
        await api.create_contact({"name": "Acme GmbH", "category": CUSTOMER_CATEGORY})

    assert (caught.value.status, caught.value.code, caught.value.sevdesk_message) == (status, 4242, "Wartung")
    assert "sevDesk code 4242" in str(caught.value)
    # Only the caller can look for the effect of a create, so the client never repeats it.
    assert sandbox.sandbox.count_calls("POST") == 1


@pytest.mark.parametrize("kind", ["status", "applied_then_error"])
async def test_a_gateway_502_may_still_be_in_flight_and_stays_merely_uncertain(
    kind: str, sandbox: SandboxServer, account: Account, api: SevdeskApi
) -> None:
    sandbox.sandbox.faults.add(kind=kind, status=502, method="POST", times=None)

    with pytest.raises(UncertainWriteError) as caught:
        await api.create_contact({"name": "Acme GmbH", "category": CUSTOMER_CATEGORY})

    assert not isinstance(caught.value, AnsweredWriteError)
    assert sandbox.sandbox.count_calls("POST") == 1


async def test_a_field_update_answered_503_is_sent_again_by_the_client(
    sandbox: SandboxServer, account: Account, api: SevdeskApi
) -> None:
    contact = await api.create_contact({"name": "Acme GmbH", "category": CUSTOMER_CATEGORY})
    sandbox.sandbox.faults.add(kind="status", status=503, method="PUT", path=r"^/Contact/\d+$", times=1)

    await api.update_contact(str(contact["id"]), {"name": "Acme Holding GmbH"})

    assert [c["name"] for c in account.objects("Contact")] == ["Acme Holding GmbH"]
    puts = [c.status for c in sandbox.sandbox.calls if c.method == "PUT"]
    assert puts == [503, 200]


async def test_a_booking_answered_503_is_not_repeated_by_the_client(
    sandbox: SandboxServer, account: Account, api: SevdeskApi
) -> None:
    sandbox.sandbox.faults.add(kind="status", status=503, method="PUT", path="bookAmount", times=None)

    with pytest.raises(AnsweredWriteError):
        await api.book_invoice("12", {"amount": "10", "type": "N"})

    assert sandbox.sandbox.count_calls("PUT") == 1
