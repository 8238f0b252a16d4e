"""Drivers: perform the core's effects over a transport, blocking (``sync``) or on the running
event loop (``aio``, kept apart so blocking users never import asyncio)."""
