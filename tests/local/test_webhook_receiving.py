"""Receiving webhooks with the helpers, end to end over loopback: the local endpoint delivers
(and re-delivers, as RunPod does, when the receiver is slow to answer) to a receiver that
checks the secret token and deduplicates; forged deliveries are refused. The job is submitted
by a blocking ``Endpoint`` to a threaded receiver and by an ``AsyncEndpoint`` to an asyncio
one."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from runpod_facade import (
    AsyncEndpoint,
    Endpoint,
    WebhookDeduplicator,
    WebhookPayloadError,
    new_webhook_secret,
    parse_webhook,
    verify_webhook_url,
    webhook_url,
)
from runpod_facade.local import LocalEndpoint, sample_handlers

#: The local endpoint gives up on a delivery after this long and re-delivers.
DELIVERY_TIMEOUT = 0.5


class Receiving:
    """What a receiver does with one POST, the way the README shows it: refuse a forged
    delivery before reading it, acknowledge a repeated one without handling it again."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.dedupe = WebhookDeduplicator()
        self.handled: list[str] = []
        self.repeated: list[str] = []
        self.forged = 0
        self.lock = threading.Lock()

    def answer(self, path: str, body: bytes) -> tuple[int, bool]:
        """The status to answer, and whether handling is slow (the first time only)."""
        if not verify_webhook_url(path, self.secret):
            with self.lock:
                self.forged += 1
            return 403, False
        try:
            state = parse_webhook(body)
        except WebhookPayloadError:
            return 400, False
        if not self.dedupe.first_delivery(state):
            with self.lock:
                self.repeated.append(state.id)
            return 200, False
        with self.lock:
            self.handled.append(state.id)
        # Slower than the sender waits: its 200 comes too late, so the delivery is repeated.
        return 200, True


class ThreadedReceiver:
    def __init__(self, receiving: Receiving) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers["Content-Length"]))
                status, slow = receiving.answer(self.path, data)
                if slow:
                    time.sleep(DELIVERY_TIMEOUT * 2)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/runpod"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


class AsyncReceiver:
    """A minimal HTTP/1.1 receiver on asyncio streams (one request per connection)."""

    def __init__(self, receiving: Receiving) -> None:
        self.receiving = receiving
        self.server: asyncio.Server | None = None
        self.base_url = ""
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}/hooks/runpod"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            path = head[0].split(" ")[1]
            headers = dict(line.split(": ", 1) for line in head[1:] if ": " in line)
            length = int({k.lower(): v for k, v in headers.items()}["content-length"])
            status, slow = self.receiving.answer(path, await reader.readexactly(length))
            if slow:
                await asyncio.sleep(DELIVERY_TIMEOUT * 2)
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
            )
            await writer.drain()
        finally:
            # Also when cancelled (a slow answer still sleeping at close): a writer left open
            # outlives its loop and warns when garbage-collected, in whatever test runs then.
            writer.close()
            self._handlers.discard(task)

    async def close(self) -> None:
        """Stop listening, and end the connections still being answered (Python 3.11's
        ``wait_closed`` does not wait for them)."""
        assert self.server is not None
        self.server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self.server.wait_closed()


@pytest.fixture
def local() -> Iterator[LocalEndpoint]:
    with LocalEndpoint(
        sample_handlers.sleep,
        workers=2,
        webhook_retry_delay_s=0.05,
        webhook_timeout_s=DELIVERY_TIMEOUT,
    ) as endpoint:
        yield endpoint


def forge(url: str, job_id: str) -> list[int]:
    """POST a convincing body for ``job_id`` with no token, a wrong one, and a right token
    guessed wrong by one character."""
    bare = url.split("?", 1)[0]
    body = {"id": job_id, "status": "COMPLETED", "output": {"forged": True}}
    return [
        httpx.post(target, json=body).status_code
        for target in (bare, f"{bare}?token=guess", url[:-1] + ("A" if url[-1] != "A" else "B"))
    ]


def wait_until(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def check(local: LocalEndpoint, receiving: Receiving, job_id: str) -> None:
    wait_until(lambda: any(a.ok for a in local.webhook_attempts if a.job_id == job_id))
    attempts = [a for a in local.webhook_attempts if a.job_id == job_id]
    # The first POST timed out at the sender (the receiver was slow), so it was delivered
    # again (a loaded machine may make a repeat time out too: RunPod allows three POSTs).
    assert [a.ok for a in attempts][-1] and len(attempts) in (2, 3)
    assert not any(a.ok for a in attempts[:-1])
    assert "Timeout" in (attempts[0].error or "")
    assert receiving.handled == [job_id]  # handled once
    assert receiving.repeated == [job_id] * (len(attempts) - 1)  # every repeat recognised
    assert receiving.forged == 3


def test_sync_duplicate_recognised_and_forgeries_refused(local: LocalEndpoint) -> None:
    secret = new_webhook_secret()
    receiving = Receiving(secret)
    receiver = ThreadedReceiver(receiving)
    try:
        url = webhook_url(receiver.base_url, secret)
        with Endpoint(local.endpoint_id, base_url=local.base_url, api_key=local.api_key) as ep:
            job = ep.run({"seconds": 0.3}, webhook=url)
            # Forged while the job runs: refused, and not remembered as "seen".
            assert forge(url, job.id) == [403, 403, 403]
            assert job.wait(timeout=20).output == {"slept": 0.3}
        check(local, receiving, job.id)
    finally:
        receiver.close()


def test_async_duplicate_recognised_and_forgeries_refused(local: LocalEndpoint) -> None:
    secret = new_webhook_secret()
    receiving = Receiving(secret)

    async def main() -> str:
        receiver = AsyncReceiver(receiving)
        await receiver.start()
        try:
            url = webhook_url(receiver.base_url, secret)
            async with AsyncEndpoint(
                local.endpoint_id, base_url=local.base_url, api_key=local.api_key
            ) as ep:
                job = await ep.run({"seconds": 0.3}, webhook=url)
                codes = await asyncio.to_thread(forge, url, job.id)
                assert codes == [403, 403, 403]
                assert (await job.wait(timeout=20)).output == {"slept": 0.3}
                # Keep serving until the repeat has been answered.
                while not any(a.ok for a in local.webhook_attempts if a.job_id == job.id):
                    await asyncio.sleep(0.02)
                return job.id
        finally:
            await receiver.close()

    job_id = asyncio.run(main())
    check(local, receiving, job_id)
