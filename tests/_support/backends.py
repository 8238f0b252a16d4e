"""The HTTP backends of ``AsyncEndpoint``: tests of async behaviour run on each of them."""

from __future__ import annotations

BACKENDS = ("httpx", "aiohttp")
