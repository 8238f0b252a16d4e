"""``runpod-facade lb ...`` against the local pool: replies on stdout byte for byte, the queue
commands' exit codes and one-line errors."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from runpod_facade.cli import main
from runpod_facade.local import LBFault, LocalLoadBalancer

from .apps import make_app


@pytest.fixture
def env(lb: LocalLoadBalancer, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalLoadBalancer]:
    for name in ("RUNPOD_BASE_URL", "RUNPOD_FACADE_LOG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RUNPOD_ENDPOINT_ID", "lb-endpoint")
    monkeypatch.setenv("RUNPOD_API_KEY", lb.api_key or "")
    monkeypatch.setenv("RUNPOD_LB_BASE_URL", lb.url)
    yield lb


def cli(capsysbinary: pytest.CaptureFixture[bytes], *args: str) -> tuple[int, bytes, str]:
    code = main(list(args))
    out, err = capsysbinary.readouterr()
    return code, out, err.decode()


def test_post_prints_the_workers_body(
    env: LocalLoadBalancer, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    code, out, err = cli(capsysbinary, "lb", "post", "/echo", "--data", '{"a": 1}')
    assert code == 0
    assert json.loads(out) == {"echo": {"a": 1}, "query": {}}
    assert "HTTP 200 from worker local-worker-" in err


def test_get_with_params_affinity_and_json_output(
    env: LocalLoadBalancer, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    target = env.worker_ids[1]
    code, out, _ = cli(
        capsysbinary, "lb", "get", "/state", "--affinity", f"strict {target}", "--json"
    )
    assert code == 0
    assert json.loads(out) == {
        "status": 200,
        "worker_id": target,
        "body": {"model": "loaded", "lifespans": 1},
    }


def test_stream_and_bytes(
    env: LocalLoadBalancer, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    code, out, _ = cli(capsysbinary, "lb", "get", "/sse", "--stream")
    assert code == 0 and out == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
    code, out, _ = cli(capsysbinary, "lb", "get", "/big", "--param", "n=70000")
    assert code == 0 and out == b"x" * 70000


def test_ping_and_wait_ready(
    env: LocalLoadBalancer, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    assert cli(capsysbinary, "lb", "ping")[1] == b"healthy (HTTP 200)\n"
    code, out, _ = cli(capsysbinary, "lb", "wait-ready", "--timeout", "5")
    assert code == 0 and out.startswith(b"ready: worker local-worker-")


def test_wait_ready_timeout_exits_5(
    monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    with LocalLoadBalancer(make_app(), cold_start=30, api_key=None) as cold:
        monkeypatch.setenv("RUNPOD_LB_BASE_URL", cold.url)
        code, out, err = cli(
            capsysbinary, "lb", "wait-ready", "--endpoint-id", "x", "--timeout", "0.2"
        )
        assert (
            cli(capsysbinary, "lb", "ping", "--endpoint-id", "x")[1] == b"initializing (HTTP 204)\n"
        )
        cold.faults.add(LBFault("no_workers", "/ping"))
        code_400, out_400, err_400 = cli(capsysbinary, "lb", "ping", "--endpoint-id", "x")
        assert (code_400, out_400) == (6, b"unhealthy (HTTP 400)\n")
        assert "no workers available" in err_400
    assert code == 5 and out == b""
    assert err.startswith("error: ") and "no worker became ready within 0.2s" in err


@pytest.mark.parametrize(
    ("args", "fault", "code", "message"),
    [
        (("post", "/status/500"), None, 6, "failed with HTTP 500 (the worker's reply)"),
        (("get", "/state", "--affinity", "strict nobody"), None, 6, "affinity_worker_gone"),
        (("post", "/echo", "--data", "{}"), "bad_gateway", 0, ""),
        (("post", "/echo", "--data", "{"), None, 2, "--data is not valid JSON"),
        (("get", "/state", "--affinity", "sticky w"), None, 2, "must be '<worker-id>'"),
        (("get", "/count", "--timeout", "0.3"), "hang", 7, "no reply within 0.3s"),
    ],
)
def test_exit_codes(
    env: LocalLoadBalancer,
    capsysbinary: pytest.CaptureFixture[bytes],
    args: tuple[str, ...],
    fault: str | None,
    code: int,
    message: str,
) -> None:
    if fault is not None:
        env.faults.add(LBFault(fault))  # type: ignore[arg-type]
    got, _, err = cli(capsysbinary, "lb", *args)
    assert got == code, err
    assert message in err
    assert env.api_key is None or env.api_key not in err


@pytest.mark.misuse("argument")
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("lb", "get", "/x", "--param", "novalue"), "must be NAME=VALUE"),
        (("lb", "post", "/x", "--data-file", "/nonexistent/file"), "cannot read --data-file"),
        (("lb", "get", "https://evil.example/x"), "must start with a single '/'"),
        (("lb", "get", "/x", "--base-url", ""), "leave the option out to use $RUNPOD_LB_BASE_URL"),
    ],
)
def test_bad_arguments_exit_2(
    env: LocalLoadBalancer,
    capsysbinary: pytest.CaptureFixture[bytes],
    args: tuple[str, ...],
    message: str,
) -> None:
    code, out, err = cli(capsysbinary, *args)
    assert code == 2 and out == b"" and message in err
    assert env.requests == []


@pytest.mark.parametrize("command", ["get", "post", "put", "delete", "ping", "wait-ready"])
def test_help_names_the_load_balancing_url_and_deadline(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The lb commands' --help described the queue API's --base-url ($RUNPOD_BASE_URL, then
    # https://api.runpod.ai/v2), which they never read, and a --timeout after which "the job
    # goes on" (there is no job), and listed the queue commands' exit codes and examples.
    assert main(["lb", command, "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "$RUNPOD_LB_BASE_URL, then https://ENDPOINT_ID.api.runpod.ai" in text
    assert "RUNPOD_BASE_URL" not in text.replace("RUNPOD_LB_BASE_URL", "")
    assert "api.runpod.ai/v2" not in text
    assert "job" not in text.lower()
    assert "run-sync" not in text


def test_lb_serve_help_lists_its_own_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    # 'lb serve --help' showed the queue commands' epilog: $RUNPOD_BASE_URL, which it does
    # not read, and job outcomes (FAILED, CANCELLED ...) a server never has.
    assert main(["lb", "serve", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "0 stopped with Ctrl-C" in text
    assert "bad APP or option" in text
    assert "9 serve could not start" in text
    assert "RUNPOD_BASE_URL" not in text and "job" not in text.lower()


@pytest.mark.parametrize(
    "command", [("lb", "serve"), ("serve", "--load-balancer")], ids=["lb-serve", "serve-lb"]
)
def test_lb_serve_in_a_subprocess_then_ctrl_c(command: tuple[str, str]) -> None:
    """``runpod-facade lb serve MODULE:APP`` (or ``serve --load-balancer MODULE:APP``) runs
    the user's app unmodified; the queue commands' serve conventions hold (Ctrl-C exits 0 and
    says the server stopped)."""
    from runpod_facade import LoadBalancedEndpoint
    from tests.cli.conftest import interrupt, start_cli, wait_for
    from tests.cli.test_cli_subprocess import free_port

    port = free_port()
    key = "lb-serve-key-123456"
    proc = start_cli(
        *command,
        "tests.loadbalancing.apps:app",
        "--port",
        str(port),
        "--workers",
        "2",
        "--api-key",
        key,
        "--cold-start",
        "0.2",
    )
    try:
        url = f"http://127.0.0.1:{port}"
        ep = LoadBalancedEndpoint("served", base_url=url, api_key=key, timeout=10)

        def up() -> bool:
            try:
                ep.ping(timeout=1)
            except Exception:
                return False
            return True

        wait_for(proc, up)
        with ep:
            ready = ep.wait_ready(timeout=10)
            assert ep.worker_id(ready) in ("local-worker-0", "local-worker-1")
            assert ep.post("/echo", json={"served": 1}).json()["echo"] == {"served": 1}
    finally:
        stderr = interrupt(proc)
    assert proc.returncode == 0, stderr
    assert "server stopped" in stderr and key not in stderr
