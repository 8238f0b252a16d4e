"""The TLS context our own clients verify servers with, built without importing httpx.

httpx's clients check certificates against certifi's roots, or against ``SSL_CERT_FILE`` /
``SSL_CERT_DIR`` when the environment names one (``httpx.create_ssl_context()``). The aiohttp
backend checks against the same roots, and builds its context here so that an aiohttp user
never imports httpx (tests/transports/test_tls.py holds the two to the same roots).
"""

from __future__ import annotations

import os
import ssl

import certifi

__all__ = ["default_tls_context"]


def default_tls_context() -> ssl.SSLContext:
    """A client context verifying hostnames and certificates, with httpx's default roots.

    Building one costs tens of milliseconds: a transport builds it once and keeps it."""
    if cafile := os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=cafile)
    if capath := os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=capath)
    return ssl.create_default_context(cafile=certifi.where())
