"""Transports: one request in, one fully read reply (or a classified failure) out.

``base`` holds what every transport is built from and imports nothing else of the package;
``httpx`` and ``async_httpx`` (the default), ``aiohttp`` (an optional backend), ``gate``
(admission of requests on one asyncio client) and ``pool`` (LIFO connection reuse) build on it.
"""
