"""A minimal, fast RunPod-compatible server for the client-cost benchmarks.

One asyncio event loop, a raw ``asyncio.Protocol`` per connection with a small HTTP/1.1
parser (keep-alive; ``Content-Length`` and chunked request bodies; one request at a time per
connection). Jobs are timers, not handlers: the job's ``input`` decides, ``{"sleep": 0.2}``
completes 200 ms after submit, anything else completes at once; the output is the input.

Routes (``{ep}`` is any endpoint id; auth headers are accepted and not checked)::

    POST      /v2/{ep}/run                        {"id", "status"}
    POST      /v2/{ep}/runsync?wait=MS            the job, held until terminal or MS elapsed
    GET|POST  /v2/{ep}/status/{id}                the job
    GET|POST  /v2/{ep}/status-sync/{id}?wait=MS   the job, held like runsync (long-poll)
    GET       /v2/{ep}/stream/{id}[?wait=MS]      {"status", "stream": [...]}, held likewise
    POST      /v2/{ep}/cancel/{id}                {"id", "status"}
    GET       /v2/{ep}/health                     job and worker counters
    GET       /_stats                             counters (see ``Stats.snapshot``)
    POST      /_stats/reset                       zero the counters

A job reads ``{"id", "status", "output", "delayTime", "executionTime"}`` (no ``output``
until it is COMPLETED). Connections whose first request is a ``/_stats`` call are control
connections and are left out of the connection counters.

    python -m benchmarks.fastserver [--port 0]

prints ``{"port": N}`` on stdout once listening, and exits when its standard input reaches
end-of-file or its parent process is gone, so it never outlives the benchmark that started it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import resource
import socket
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"})
DEFAULT_WAIT_MS = 90_000
MAX_WAIT_MS = 300_000
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 32 * 1024 * 1024

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
_dumps = json.JSONEncoder(separators=(",", ":")).encode


class Job:
    __slots__ = (
        "done_at",
        "id",
        "input",
        "output",
        "status",
        "stream_sent",
        "submitted",
        "waiters",
    )

    def __init__(self, job_id: str, job_input: Any, now: float) -> None:
        self.id = job_id
        self.input = job_input
        self.submitted = now
        self.done_at = now
        self.status = "IN_PROGRESS"
        self.output: Any = None
        self.stream_sent = False
        self.waiters: list[Callable[[], None]] | None = None

    def body(self) -> dict[str, Any]:
        if self.status == "COMPLETED":
            return {
                "id": self.id,
                "status": "COMPLETED",
                "output": self.output,
                "delayTime": 0,
                "executionTime": round((self.done_at - self.submitted) * 1000),
            }
        return {"id": self.id, "status": self.status, "delayTime": 0, "executionTime": 0}


class Stats:
    def __init__(self) -> None:
        self.reset()
        self.open_connections = 0
        self.held = 0

    def reset(self) -> None:
        self.routes: dict[str, int] = {}
        self.requests = 0
        self.connections = 0
        self.peak_open = 0
        self.peak_held = 0
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self._cpu0 = usage.ru_utime + usage.ru_stime
        self._t0 = time.perf_counter()

    def snapshot(self) -> dict[str, Any]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "requests": self.requests,
            "routes": dict(self.routes),
            "connections_opened": self.connections,
            "open_connections": self.open_connections,
            "peak_open_connections": self.peak_open,
            "held": self.held,
            "peak_held": self.peak_held,
            "cpu_s": usage.ru_utime + usage.ru_stime - self._cpu0,
            "wall_s": time.perf_counter() - self._t0,
        }


class App:
    """The job table and the routes; knows nothing of sockets."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.jobs: dict[str, Job] = {}
        self.stats = Stats()
        self._ids = itertools.count(1)
        self.completed = 0

    # ---- jobs

    def submit(self, body: bytes) -> Job | None:
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            return None
        if not isinstance(payload, dict) or "input" not in payload:
            return None
        number = next(self._ids)
        job_id = f"{number:08x}-b3c4-4d5e-8f60-{os.getpid():06x}{number:06x}-u1"
        now = self.loop.time()
        job = Job(job_id, payload["input"], now)
        self.jobs[job_id] = job
        job_input = payload["input"]
        delay = job_input.get("sleep", 0) if isinstance(job_input, dict) else 0
        if isinstance(delay, (int, float)) and delay > 0:
            job.done_at = now + float(delay)
            job.waiters = []
            self.loop.call_at(job.done_at, self._finish, job)
        else:
            self._finish(job)
        return job

    def _finish(self, job: Job) -> None:
        if job.status in TERMINAL:
            return
        job.status = "COMPLETED"
        job.output = job.input
        self.completed += 1
        self._wake(job)

    def _wake(self, job: Job) -> None:
        waiters, job.waiters = job.waiters, None
        for wake in waiters or ():
            wake()

    def cancel(self, job: Job) -> None:
        if job.status not in TERMINAL:
            job.status = "CANCELLED"
            self._wake(job)

    # ---- requests

    def handle(
        self, method: str, target: str, body: bytes, reply: Callable[[int, Any], None]
    ) -> None:
        """Answer one request through ``reply(status, json_body)``, now or later (holds)."""
        path, _, query = target.partition("?")
        parts = path.split("/")
        # ['', 'v2', ep, op, id?]
        if len(parts) >= 4 and parts[1] == "v2":
            op = parts[3]
            job_id = parts[4] if len(parts) > 4 else None
            self.stats.requests += 1
            routes = self.stats.routes
            routes[op] = routes.get(op, 0) + 1
            if op == "run" and method == "POST":
                job = self.submit(body)
                if job is None:
                    reply(400, {"error": "body must be a JSON object with an `input`"})
                else:
                    reply(200, {"id": job.id, "status": "IN_QUEUE"})
                return
            if op == "runsync" and method == "POST":
                held = self.submit(body)
                if held is None:
                    reply(400, {"error": "body must be a JSON object with an `input`"})
                else:
                    self._hold(held, _wait_s(query), lambda: reply(200, held.body()))
                return
            if op == "health":
                running = sum(1 for job in self.jobs.values() if job.status not in TERMINAL)
                reply(
                    200,
                    {
                        "jobs": {
                            "completed": self.completed,
                            "failed": 0,
                            "inProgress": running,
                            "inQueue": 0,
                            "retried": 0,
                        },
                        "workers": {"idle": 1, "running": min(running, 1)},
                    },
                )
                return
            job = self.jobs.get(job_id) if job_id else None
            if job is None:
                reply(404, {"error": f"no job {job_id!r}"})
                return
            if op == "status":
                reply(200, job.body())
            elif op == "status-sync":
                self._hold(job, _wait_s(query), lambda: reply(200, job.body()))
            elif op == "stream":
                self._hold(job, _wait_s(query, 0), lambda: reply(200, self._stream_body(job)))
            elif op == "cancel" and method == "POST":
                self.cancel(job)
                reply(200, {"id": job.id, "status": job.status})
            else:
                reply(404, {"error": f"no route {method} {path}"})
            return
        if path == "/_stats" and method == "GET":
            reply(200, self.stats.snapshot())
        elif path == "/_stats/reset" and method == "POST":
            self.stats.reset()
            reply(200, {"reset": True})
        else:
            self.stats.requests += 1
            self.stats.routes["other"] = self.stats.routes.get("other", 0) + 1
            reply(404, {"error": f"no route {method} {path}"})

    def _stream_body(self, job: Job) -> dict[str, Any]:
        chunks: list[dict[str, Any]] = []
        if job.status == "COMPLETED" and not job.stream_sent:
            job.stream_sent = True
            chunks.append({"output": job.output})
        return {"status": job.status, "stream": chunks}

    def _hold(self, job: Job, wait_s: float, answer: Callable[[], None]) -> None:
        if job.status in TERMINAL or wait_s <= 0 or job.waiters is None:
            answer()
            return
        stats = self.stats
        stats.held += 1
        stats.peak_held = max(stats.peak_held, stats.held)
        done = False

        def release() -> None:
            nonlocal done
            if done:
                return
            done = True
            stats.held -= 1
            timer.cancel()
            answer()

        timer = self.loop.call_later(wait_s, release)
        job.waiters.append(release)


def _wait_s(query: str, default_ms: int = DEFAULT_WAIT_MS) -> float:
    wait_ms: float = default_ms
    if query:
        for key, value in parse_qsl(query):
            if key == "wait":
                with contextlib.suppress(ValueError):
                    wait_ms = float(value)
    return max(0.0, min(wait_ms, MAX_WAIT_MS)) / 1000


class HttpProtocol(asyncio.Protocol):
    """One connection: parse a request, answer it (maybe later), then parse the next."""

    __slots__ = ("app", "buffer", "busy", "close_after", "control", "counted", "transport")

    def __init__(self, app: App) -> None:
        self.app = app
        self.buffer = bytearray()
        self.busy = False
        self.close_after = False
        self.counted = False
        self.control = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        stats = self.app.stats
        stats.open_connections += 1
        stats.peak_open = max(stats.peak_open, stats.open_connections)

    def connection_lost(self, exc: Exception | None) -> None:
        self.app.stats.open_connections -= 1
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.busy:
            self._next()

    def _next(self) -> None:
        while not self.busy and self.transport is not None:
            parsed = self._parse()
            if parsed is None:
                return
            method, target, body = parsed
            if not self.counted:
                self.counted = True
                self.control = target.startswith("/_stats")
                if not self.control:
                    self.app.stats.connections += 1
            self.busy = True
            self.app.handle(method, target, body, self._reply)

    def _parse(self) -> tuple[str, str, bytes] | None:
        buffer = self.buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > MAX_HEADER_BYTES:
                self._fail()
            return None
        lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            self._fail()
            return None
        length = 0
        chunked = False
        close = version == "HTTP/1.0"
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                try:
                    length = int(value)
                except ValueError:
                    self._fail()
                    return None
            elif name == "transfer-encoding":
                chunked = "chunked" in value.lower()
            elif name == "connection":
                token = value.strip().lower()
                close = token == "close" or (close and token != "keep-alive")
        start = end + 4
        if chunked:
            decoded = _dechunk(buffer, start)
            if decoded is None:
                return None
            body, consumed = decoded
        else:
            if length > MAX_BODY_BYTES:
                self._fail()
                return None
            if len(buffer) - start < length:
                return None
            body = bytes(buffer[start : start + length])
            consumed = start + length
        del buffer[:consumed]
        self.close_after = close
        return method, target, body

    def _reply(self, status: int, payload: Any) -> None:
        transport = self.transport
        self.busy = False
        if transport is None or transport.is_closing():
            return
        body = _dumps(payload).encode()
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            + ("Connection: close\r\n\r\n" if self.close_after else "\r\n")
        )
        transport.write(head.encode() + body)
        if self.close_after:
            transport.close()
        elif self.buffer:
            self._next()

    def _fail(self) -> None:
        if self.transport is not None:
            self.transport.write(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            self.transport.close()


def _dechunk(buffer: bytearray, start: int) -> tuple[bytes, int] | None:
    """A chunked body starting at ``start``: (body, bytes consumed), or None if incomplete."""
    body = bytearray()
    position = start
    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            return None
        size = int(bytes(buffer[position:line_end]).split(b";")[0] or b"0", 16)
        position = line_end + 2
        if size == 0:
            trailer_end = buffer.find(b"\r\n\r\n", position - 2)
            if trailer_end < 0:
                return None
            return bytes(body), trailer_end + 4
        if len(buffer) < position + size + 2:
            return None
        body += buffer[position : position + size]
        position += size + 2


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    app = App(loop)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    server = await loop.create_server(lambda: HttpProtocol(app), sock=sock, backlog=1024)
    stop = asyncio.Event()

    # Stop on stdin EOF (the parent closed the pipe or died) or when the parent pid changes.
    class _Stdin(asyncio.Protocol):
        def connection_lost(self, exc: Exception | None) -> None:
            stop.set()

    with contextlib.suppress(OSError, ValueError):
        await loop.connect_read_pipe(_Stdin, sys.stdin)
    parent = os.getppid()

    def watch_parent() -> None:
        if os.getppid() != parent:
            stop.set()
        else:
            loop.call_later(1.0, watch_parent)

    loop.call_later(1.0, watch_parent)
    print(json.dumps({"port": sock.getsockname()[1], "pid": os.getpid()}), flush=True)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
