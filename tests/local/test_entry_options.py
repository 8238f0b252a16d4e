"""``serve`` and ``LocalEndpoint`` take the options of ``create_app``, as their docstrings say
("the other keyword arguments are those of create_app"), and hand each one on."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from runpod_facade.local import LocalEndpoint, _server, create_app, sample_handlers, serve
from runpod_facade.local.loadbalancer import _server as lb_server
from runpod_facade.local.loadbalancer._server import serve_load_balancer
from tests.loadbalancing.apps import make_app

#: create_app's options (all but the handler), by name.
OPTIONS = {
    name: parameter
    for name, parameter in inspect.signature(create_app).parameters.items()
    if name != "handler"
}
#: Defaults that differ on purpose: LocalEndpoint's random key and its own endpoint id.
OWN_DEFAULTS = {(LocalEndpoint, "api_key"), (LocalEndpoint, "endpoint_id")}


@pytest.mark.parametrize("entry", [serve, LocalEndpoint], ids=["serve", "LocalEndpoint"])
@pytest.mark.parametrize("option", list(OPTIONS))
def test_each_option_of_create_app_is_taken_with_its_default(entry: Any, option: str) -> None:
    parameters = inspect.signature(entry).parameters
    assert option in parameters
    if (entry, option) not in OWN_DEFAULTS:
        assert parameters[option].default == OPTIONS[option].default


class _Stop(Exception):
    """Raised by the spy in place of create_app: nothing is served."""


def test_serve_hands_every_option_to_create_app(monkeypatch: pytest.MonkeyPatch) -> None:
    given: dict[str, Any] = {}

    def spy(handler: Any, **options: Any) -> Any:
        given.update(options)
        raise _Stop

    monkeypatch.setattr(_server, "create_app", spy)
    values = {name: object() for name in OPTIONS}  # a distinct token per option
    with pytest.raises(_Stop):
        serve(sample_handlers.echo, **values)
    assert given == values


class _NoServer:
    """Stands in for uvicorn.Server: returns at once instead of serving."""

    def __init__(self, config: Any) -> None:
        self.config = config

    def run(self) -> None:
        return None


@pytest.mark.parametrize(
    ("host", "shown"),
    [("127.0.0.1", "http://127.0.0.1:8123/"), ("::1", "http://[::1]:8123/")],
    ids=["IPv4", "IPv6"],
)
@pytest.mark.parametrize("kind", ["queue", "load-balancing"])
def test_the_banner_shows_a_url_that_works(
    kind: str, host: str, shown: str, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    # serve --host ::1 printed http://::1:8123/v2/..., which no client can parse (an IPv6
    # address goes in brackets, as LocalEndpoint.base_url has it).
    monkeypatch.setattr(_server.uvicorn, "Server", _NoServer)
    if kind == "queue":
        serve(sample_handlers.echo, host=host, port=8123)
    else:
        monkeypatch.setattr(lb_server.uvicorn, "Server", _NoServer)
        serve_load_balancer(make_app(), host=host, port=8123)
    err = capsys.readouterr().err
    assert shown in err, err
