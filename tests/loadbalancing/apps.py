"""Worker apps for the load-balancing tests: plain Starlette apps, as users write them (the
local pool runs them unmodified)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

__all__ = ["make_app"]


def make_app() -> Starlette:
    """/ping, /echo (POST), /count (POST or GET, counts per method), /slow?s=, /status/{code},
    /sse (three events), /drip?s= (one chunk, the last s seconds later), /big?n= (n bytes),
    /state (lifespan state), /v1/chat/completions."""
    counts: collections.Counter[str] = collections.Counter()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, object]]:
        counts["lifespan"] += 1
        yield {"model": "loaded"}

    async def ping(request: Request) -> Response:
        return JSONResponse({"status": "healthy"})

    async def echo(request: Request) -> Response:
        return JSONResponse({"echo": await request.json(), "query": dict(request.query_params)})

    async def count(request: Request) -> Response:
        counts[request.method] += 1
        return JSONResponse({"count": counts[request.method]})

    async def slow(request: Request) -> Response:
        await asyncio.sleep(float(request.query_params.get("s", "0.2")))
        return JSONResponse({"slept": True})

    async def status(request: Request) -> Response:
        code = int(request.path_params["code"])
        counts[f"status-{code}"] += 1
        return JSONResponse({"worker_says": code}, status_code=code)

    async def sse(request: Request) -> Response:
        async def events() -> AsyncIterator[str]:
            for i in range(3):
                yield f"data: {i}\n\n"
                await asyncio.sleep(0.01)

        return StreamingResponse(events(), media_type="text/event-stream")

    async def drip(request: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"first;"
            await asyncio.sleep(float(request.query_params.get("s", "0.2")))
            yield b"last"

        return StreamingResponse(chunks(), media_type="text/plain")

    async def big(request: Request) -> Response:
        return Response(b"x" * int(request.query_params["n"]), media_type="text/plain")

    async def state(request: Request) -> Response:
        return JSONResponse({"model": request.state.model, "lifespans": counts["lifespan"]})

    async def chat(request: Request) -> Response:
        body = await request.json()
        text = "echo: " + body["messages"][-1]["content"]
        return JSONResponse(
            {
                "id": "chatcmpl-local",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
            }
        )

    app = Starlette(
        routes=[
            Route("/ping", ping),
            Route("/echo", echo, methods=["POST"]),
            Route("/count", count, methods=["GET", "POST"]),
            Route("/slow", slow, methods=["GET", "POST"]),
            Route("/status/{code}", status, methods=["GET", "POST"]),
            Route("/sse", sse, methods=["GET", "POST"]),
            Route("/drip", drip),
            Route("/big", big),
            Route("/state", state),
            Route("/v1/chat/completions", chat, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
    app.state.counts = counts
    return app


#: A module-level app, for ``runpod-facade lb serve tests.loadbalancing.apps:app``.
app = make_app()
