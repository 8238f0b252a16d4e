"""The README's load-balancing snippet runs against a local pool (its environment pointing
there), and the demo's load-balancing part prints what it claims."""

from __future__ import annotations

import io
import re
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from runpod_facade import demo
from runpod_facade.local import LocalLoadBalancer

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_block() -> str:
    """The README block marked ``<!-- run: test lb-readme -->``: through the suite's doc-block
    reader, ``docblocks.named("lb-readme")``, where it exists (tests/_support/docblocks.py);
    read here otherwise."""
    try:
        from tests._support import docblocks  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        text = README.read_text(encoding="utf-8")
        found = re.search(r"<!-- run: test lb-readme -->\n```python\n(.*?)\n```", text, re.DOTALL)
        assert found is not None, "no block marked `run: test lb-readme` in README.md"
        return found.group(1)
    code: str = docblocks.named("lb-readme").code
    return code


def generate_app() -> Starlette:
    async def ping(request: Request) -> Response:
        return JSONResponse({"status": "healthy"})

    async def generate(request: Request) -> Response:
        body = await request.json()
        if body.get("stream"):

            async def events() -> object:
                for word in ("hello", "there"):
                    yield f"data: {word}\n\n"

            return StreamingResponse(events(), media_type="text/event-stream")  # type: ignore[arg-type]
        return JSONResponse({"text": f"you said {body['prompt']}"})

    return Starlette(routes=[Route("/ping", ping), Route("/generate", generate, methods=["POST"])])


def test_readme_snippet_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    with LocalLoadBalancer(generate_app(), workers=3, cold_start=0.3) as lb:
        monkeypatch.setenv("RUNPOD_API_KEY", lb.api_key or "")
        monkeypatch.setenv("RUNPOD_LB_BASE_URL", lb.url)
        out = io.StringIO()
        with redirect_stdout(out):
            exec(compile(readme_block(), "README.md", "exec"), {})
    lines = out.getvalue().splitlines()
    assert re.fullmatch(r"200 \{'text': 'you said hi'\} local-worker-\d", lines[0])
    assert [line for line in lines[1:] if line] == ["data: hello", "data: there"]


def test_demo_load_balancing_part() -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        demo._load_balancing_tour(demo._Printer())
    text = out.getvalue()
    assert re.search(r"wait_ready\(\) -> worker local-worker-\d after \d\.\d\d s", text)
    assert "pinned session: 5 calls served by ['local-worker-" in text
    assert "its worker stopped -> AffinityWorkerGoneError" in text
    assert "a lost POST reply -> APIConnectionError; POSTs the workers saw: 1" in text


def _diagram_rows() -> list[tuple[str, str | None, tuple[int, ...]]]:
    """docs/load-balancing.md's error diagram: (class, the class above it, statuses named)."""
    from tests._support import docblocks  # type: ignore[attr-defined,unused-ignore]

    rows: list[tuple[str, str | None, tuple[int, ...]]] = []
    path: list[str] = []
    for line in docblocks.named("lb-error-tree").code.splitlines():
        found = re.match(r"^((?:[│ ]   )*(?:[├└]── )?)([A-Z]\w+)(.*)$", line)
        assert found, f"unreadable line of the diagram: {line!r}"
        depth = len(found[1]) // 4
        del path[depth:]
        statuses = tuple(int(code) for code in re.findall(r"\b([1-5]\d\d)\b", found[3]))
        rows.append((found[2], path[-1] if path else None, statuses))
        path.append(found[2])
    return rows


@pytest.mark.parametrize(("name", "parent", "statuses"), _diagram_rows(), ids=lambda v: str(v))
def test_the_guide_s_error_diagram_names_real_classes_and_statuses(
    name: str, parent: str | None, statuses: tuple[int, ...]
) -> None:
    """Each class exists, derives from the one drawn above it, and is what the statuses it
    names raise (a router's 401 and 403 as the queue API's are)."""
    import runpod_facade
    from runpod_facade._exceptions import STATUS_CLASSES

    cls = getattr(runpod_facade, name, None)
    assert isinstance(cls, type) and issubclass(cls, Exception), f"{name} is not exported"
    if parent is not None:
        assert issubclass(cls, getattr(runpod_facade, parent)), (name, parent)
    for status in statuses:
        if status in STATUS_CLASSES and not issubclass(cls, runpod_facade.PlatformError):
            assert STATUS_CLASSES[status] is cls, (name, status)
