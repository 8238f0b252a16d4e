"""``serve`` and ``LocalEndpoint`` take the options of ``create_app``, as their docstrings say
("the other keyword arguments are those of create_app"), and hand each one on."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from runpod_facade.local import LocalEndpoint, _server, create_app, sample_handlers, serve

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
