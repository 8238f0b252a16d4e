"""tests/core drives the sans-IO core with a scripted driver and a fake clock: no test here
may sleep on the real clock or open a socket, and these guards make sure of it."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from runpod_facade._core.engine import EndpointCore
from tests._support.scripted import FakeClock, make_core


@pytest.fixture(autouse=True)
def _no_real_time_or_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def no_sleep(seconds: float) -> None:
        raise AssertionError(f"tests/core slept {seconds}s on the real clock")

    def no_connect(*args: object, **kwargs: object) -> None:
        raise AssertionError("tests/core opened a network connection")

    monkeypatch.setattr(time, "sleep", no_sleep)
    monkeypatch.setattr(socket.socket, "connect", no_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", no_connect)
    monkeypatch.setattr(socket, "create_connection", no_connect)
    yield


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def core(clock: FakeClock) -> EndpointCore:
    return make_core(clock)
