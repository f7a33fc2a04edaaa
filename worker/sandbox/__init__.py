"""A bundled stand-in for the sevDesk REST API (``/api/v1``), with fault injection.

Used by the tests, the demo and the chaos run instead of a real sevDesk account. It follows the
real API's shapes and quirks for the endpoints sevsync uses (see the resource modules) and keeps
one in-memory state per API token. The ``/__sandbox__`` control routes are for tests only.

In-process use::

    sandbox = Sandbox()
    account = sandbox.add_account("0123456789abcdef0123456789abcdef")
    async with SandboxServer(sandbox) as server:
        sandbox.faults.add(kind="lost_answer", method="POST", path="^/Contact$")
        ...  # talk to server.base_url
        assert account.objects("Contact")
"""

from .app import Sandbox
from .faults import FaultInjector, FaultRule
from .server import SandboxServer, serve
from .store import Account, CallRecord

__all__ = ["Account", "CallRecord", "FaultInjector", "FaultRule", "Sandbox", "SandboxServer", "serve"]
