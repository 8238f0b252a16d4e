"""What makes a served endpoint quick to test against: short waits between retries and polls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from .._core.retry import PollPolicy, RetryPolicy

__all__ = [
    "FAST_POLL_POLICY",
    "FAST_RETRY_POLICY",
    "FAST_WEBHOOK_RETRY_DELAY_S",
    "LOCAL_EXTRA_HINT",
    "Handler",
]

#: A handler: called with the job dict ``{"id": ..., "input": ...}``; returns (or yields, to
#: stream) JSON data. Also accepted: ``"module:function"`` or ``"path/file.py:function"``.
Handler = Callable[[dict[str, Any]], Any]

#: Retries after 10 ms, 20 ms, 40 ms (capped at 50 ms) instead of the SDK's seconds: a test
#: that injects a 503 does not sit through a production backoff.
FAST_RETRY_POLICY: Final = RetryPolicy(max_retries=3, initial_delay=0.01, max_delay=0.05)

#: ``/status`` polls 20 ms apart, growing to 100 ms (when long-polling is off or too short).
FAST_POLL_POLICY: Final = PollPolicy(initial=0.02, maximum=0.1)

#: The pause between webhook re-deliveries (RunPod waits 10 s).
FAST_WEBHOOK_RETRY_DELAY_S: Final = 0.1

LOCAL_EXTRA_HINT: Final = "pip install 'runpod-facade[local]'"
