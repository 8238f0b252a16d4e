"""Drivers perform the core's effects (``Send`` through a transport, ``Sleep`` on a clock) and
send each outcome back in, blocking (``sync``) or on the running event loop (``aio``, kept
apart so blocking users never import asyncio). An interrupt (Ctrl-C, a task cancellation)
that arrives while an effect is performed is thrown into the operation where it stands, so the
operation decides what to cancel and what to tell (``_core.interrupts``)."""
