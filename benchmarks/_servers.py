"""Benchmark servers, each in a process of its own (never sharing the clients' GIL).

- :class:`FastServer`: :mod:`benchmarks.fastserver`, the minimal asyncio server whose jobs are
  timers, for everything that measures client cost (throughput, per-call overhead,
  head-of-line). It counts requests per route and TCP connections; see ``stats()``.
- :class:`LocalServer`: the project's local endpoint running a real Python handler, for the
  benchmarks that need full semantics (latency of a real handler, streaming).

Both stop when the ``with`` block ends, and by themselves if this process dies.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from types import TracebackType
from typing import Any, Self

from ._common import API_KEY, ENDPOINT_ID, ROOT, child_env


class _ServerProcess:
    """A child that prints ``{"port": N}`` first and stops on end-of-file of its stdin."""

    def __init__(self, module: str, *args: str) -> None:
        self._command = [sys.executable, "-m", module, *args]
        self._process: subprocess.Popen[str] | None = None
        self.port = 0
        self.endpoint_id = ENDPOINT_ID
        self.api_key = API_KEY

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v2``, the clients' ``base_url``."""
        return f"http://127.0.0.1:{self.port}/v2"

    @property
    def url(self) -> str:
        """``{base_url}/{endpoint_id}``."""
        return f"{self.base_url}/{self.endpoint_id}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def start(self) -> Self:
        self._process = subprocess.Popen(
            self._command,
            cwd=ROOT,
            env=child_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError(f"{' '.join(self._command[1:])} did not start")
        self.port = int(json.loads(line)["port"])
        return self

    def _command_line(self, command: str) -> Any:
        process = self._process
        assert process is not None and process.stdin is not None and process.stdout is not None
        process.stdin.write(command + "\n")
        process.stdin.flush()
        return json.loads(process.stdout.readline())

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class FastServer(_ServerProcess):
    """``with FastServer() as server:`` — :mod:`benchmarks.fastserver` on a free port."""

    def __init__(self) -> None:
        super().__init__("benchmarks.fastserver")

    @property
    def stats_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/_stats"

    def stats(self) -> dict[str, Any]:
        """Counters since the last reset: ``requests``, ``routes`` (per operation),
        ``connections_opened``, ``peak_open_connections``, ``held``/``peak_held``
        (long-polls), ``cpu_s`` and ``wall_s`` of the server process."""
        return fetch_stats(self.stats_url)

    def reset(self) -> None:
        request = urllib.request.Request(self.stats_url + "/reset", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=10) as reply:
            reply.read()


def fetch_stats(stats_url: str) -> dict[str, Any]:
    """``GET /_stats`` of a :class:`FastServer`, on a connection of its own (a control
    connection: the server leaves it out of its connection counters)."""
    with urllib.request.urlopen(stats_url, timeout=10) as reply:
        stats: dict[str, Any] = json.loads(reply.read())
    return stats


class LocalServer(_ServerProcess):
    """``with LocalServer("benchmarks.handlers:echo", workers=2) as server:`` — the local
    endpoint running that handler, in a child process (:mod:`benchmarks._local_server`);
    ``keep_alive`` overrides the seconds it keeps an idle connection (a diagnostic)."""

    def __init__(self, handler: str, *, workers: int = 2, keep_alive: int | None = None) -> None:
        extra = () if keep_alive is None else ("--keep-alive", str(keep_alive))
        super().__init__("benchmarks._local_server", handler, "--workers", str(workers), *extra)

    def requests(self) -> dict[str, int]:
        """Requests received since the last :meth:`clear`, per operation."""
        counts: dict[str, int] = self._command_line("requests")
        return counts

    def clear(self) -> None:
        self._command_line("clear")
