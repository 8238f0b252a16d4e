"""Completion latency of a 200 ms job, submit → result in hand, with the blocking clients.

The local endpoint runs a real handler (``benchmarks.handlers:sleep_200ms``, which blocks
200 ms) in its own process; the clients run sequentially in this process, interleaved with
the order rotated each repetition.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ._common import NA, TERMINAL, Context, Table, import_runpod, log, median, ms, p90, ratio
from ._servers import LocalServer
from .handlers import SLEEP_SECONDS

NAME = "latency"


def run(ctx: Context) -> list[Table]:
    import httpx

    from runpod_facade import Endpoint

    reps = 3 if ctx.quick else 10
    log(f"{NAME}: {reps} sequential 200 ms jobs per client")
    table = Table(
        f"Completion latency of a {SLEEP_SECONDS * 1000:.0f} ms job, submit → result in hand "
        f"({reps} sequential jobs per client, interleaved; local endpoint in its own process)",
        ["client", "median ms", "p90 ms", "vs ideal 200 ms", "vs façade run().wait()"],
    )
    notes: list[str] = []
    with (
        LocalServer("benchmarks.handlers:sleep_200ms", workers=2) as server,
        Endpoint(server.endpoint_id, api_key=server.api_key, base_url=server.base_url) as ep,
        httpx.Client(timeout=httpx.Timeout(30.0, read=120.0)) as raw,
    ):
        url, headers = server.url, server.headers

        def raw_run_status_sync(payload: dict[str, int]) -> Any:
            job_id = raw.post(f"{url}/run", json={"input": payload}, headers=headers).json()["id"]
            while True:
                state = raw.get(
                    f"{url}/status-sync/{job_id}", params={"wait": 90_000}, headers=headers
                ).json()
                if state["status"] in TERMINAL:
                    return state.get("output")

        contenders: list[tuple[str, Callable[[dict[str, int]], Any]]] = [
            ("façade `ep.run(x).wait()`", lambda x: ep.run(x).wait(timeout=60).output),
            ("façade `ep.run_sync(x).output`", lambda x: ep.run_sync(x, timeout=60).output),
        ]
        if ctx.runpod:
            runpod = import_runpod()
            runpod.api_key = server.api_key
            runpod.endpoint_url_base = server.base_url
            rp = runpod.Endpoint(server.endpoint_id)
            contenders += [
                (
                    "runpod-python `run(x).output(timeout=60)`",
                    lambda x: rp.run(x).output(timeout=60),
                ),
                ("runpod-python `run_sync(x)`", lambda x: rp.run_sync(x, timeout=60)),
            ]
            early = rp.run({"n": -1}).output()  # what its default timeout=0 does
            notes.append(
                "runpod-python `run(x).output()` with its default `timeout=0` does not wait: "
                f"it returned `{early!r}` while the job was still running, so its rows pass "
                "`timeout=60`; `output()` then polls `/status` with `time.sleep(1)` between polls."
            )
        contenders.append(("raw httpx `/run` + `/status-sync` (floor)", raw_run_status_sync))

        for name, call in contenders:  # warm-up: connections, first-call imports
            assert call({"n": 0}) == {"echo": {"n": 0}}, name
        samples: dict[str, list[float]] = {name: [] for name, _ in contenders}
        for rep in range(reps):
            shift = rep % len(contenders)
            for name, call in [*contenders[shift:], *contenders[:shift]]:
                payload = {"n": rep + 1}
                started = time.perf_counter()
                output = call(payload)
                samples[name].append(time.perf_counter() - started)
                assert output == {"echo": payload}, (name, output)
    facade = median(samples[contenders[0][0]])
    for name, _ in contenders:
        values = samples[name]
        table.rows.append(
            [
                name,
                ms(median(values)),
                ms(p90(values)),
                ratio(median(values), SLEEP_SECONDS),
                ratio(median(values), facade),
            ]
        )
    if not ctx.runpod:
        table.rows.append(["runpod-python", NA, NA, NA, NA])
    table.notes += [
        *notes,
        "The façade long-polls `/status-sync` (the server holds the request until the job "
        "ends), so the result arrives as soon as the handler returns.",
    ]
    return [table]
