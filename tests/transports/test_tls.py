"""Both backends verify the server against the same roots: certifi's, or those that
``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` name. The aiohttp backend builds its TLS context itself
(``_transports.tls``) so that it never imports httpx; these tests hold it to httpx's."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import certifi
import httpx
import pytest

from runpod_facade import APIConnectionError, AsyncEndpoint
from runpod_facade._transports.tls import default_tls_context
from tests._support.backends import BACKENDS
from tests._support.rawserver import Exchange, RawServer, job_reply

KEY = "rp_tls_test_key_0123456789"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A self-signed certificate for 127.0.0.1: (cert file, key file, a hashed CA folder)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *(
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ),
            *("-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    digest = subprocess.run(
        ["openssl", "x509", "-hash", "-noout", "-in", str(cert)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    ca_dir = folder / "ca"
    ca_dir.mkdir()
    shutil.copy(cert, ca_dir / f"{digest}.0")  # the name OpenSSL looks a CA up by
    return cert, key, ca_dir


@pytest.fixture(scope="module")
def server(certificate: tuple[Path, Path, Path]) -> Iterator[RawServer]:
    cert, key, _ = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def answer(x: Exchange) -> None:
        while True:
            request = await x.read_request()
            await x.reply(200, job_reply(request))

    with RawServer(answer, tls=context) as running:
        yield running


#: the environment -> whether the server's certificate is trusted (it is in no certifi root).
ROOTS = {
    "certifi's roots": ({}, False),
    "SSL_CERT_FILE": ({"SSL_CERT_FILE": "cert"}, True),
    "SSL_CERT_DIR": ({"SSL_CERT_DIR": "ca_dir"}, True),
    "SSL_CERT_FILE before SSL_CERT_DIR": (
        {"SSL_CERT_FILE": "certifi", "SSL_CERT_DIR": "ca_dir"},
        False,
    ),
    "an empty SSL_CERT_FILE is unset": ({"SSL_CERT_FILE": "", "SSL_CERT_DIR": "ca_dir"}, True),
}


def _set_roots(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], certificate: tuple[Path, Path, Path]
) -> None:
    cert, _, ca_dir = certificate
    paths = {"cert": str(cert), "ca_dir": str(ca_dir), "certifi": certifi.where(), "": ""}
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    for name, path in env.items():
        monkeypatch.setenv(name, paths[path])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("roots", list(ROOTS))
def test_both_backends_trust_the_roots_the_environment_names(
    server: RawServer,
    certificate: tuple[Path, Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    roots: str,
    backend: Any,
) -> None:
    env, trusted = ROOTS[roots]
    _set_roots(monkeypatch, env, certificate)

    async def status() -> str:
        async with AsyncEndpoint(
            "ep", base_url=server.base_url, api_key=KEY, max_retries=0, http_backend=backend
        ) as ep:
            return (await ep.status("job-1")).id

    if trusted:
        assert asyncio.run(status()) == "job-1"
    else:
        with pytest.raises(APIConnectionError, match=r"(?i)certificate"):
            asyncio.run(status())


@pytest.mark.parametrize("roots", list(ROOTS))
def test_the_context_holds_the_roots_httpx_loads(
    certificate: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch, roots: str
) -> None:
    _set_roots(monkeypatch, ROOTS[roots][0], certificate)
    ours, theirs = default_tls_context(), httpx.create_ssl_context()
    # A CA folder is read on demand, so neither context lists its certificate yet.
    assert ours.get_ca_certs() == theirs.get_ca_certs()
    assert (ours.verify_mode, ours.check_hostname) == (ssl.CERT_REQUIRED, True)
    assert (theirs.verify_mode, theirs.check_hostname) == (ssl.CERT_REQUIRED, True)
