"""The asyncio transport over aiohttp: ``AsyncEndpoint(..., http_backend="aiohttp")``.

Imported only when that backend is chosen (``pip install 'runpod-facade[aiohttp]'``).
Same contract as the httpx transport: one request in, one fully read reply or a classified
failure out, gated by ``_gate``, redirects never followed.

Failures, and what they say about delivery (only the ``NOT_SENT`` rows prove the request
never left this process, so only they let a submit be sent again; tests/transports checks
each row):

==========================================  ===========  ========  =============================
aiohttp raises                              delivery     timeout   when
==========================================  ===========  ========  =============================
``ConnectionTimeoutError``                  NOT_SENT     yes       DNS + connect (+ its pool)
``ClientConnectorError`` and subclasses     NOT_SENT     no        refused, DNS, TLS handshake
(gate: no slot within the pool timeout)     NOT_SENT     yes       queued in this client
``SocketTimeoutError`` / ``TimeoutError``   MAYBE_SENT   yes       no reply byte for ``read`` s
``ServerDisconnectedError``                 MAYBE_SENT   no        closed with no (whole) reply
``ClientOSError`` (reset, broken pipe)      MAYBE_SENT   no        while writing or reading
``ClientPayloadError``                      MAYBE_SENT   no        reply body cut short
``ClientResponseError`` and any other       MAYBE_SENT   no        malformed reply …
``ClientError``/``OSError``
==========================================  ===========  ========  =============================

Timeouts map onto ``aiohttp.ClientTimeout`` as closely as it allows:

* ``connect`` → ``sock_connect`` (each connection attempt) and ``connect`` (DNS, attempts and
  a wait in aiohttp's own pool). With our own session that pool never makes anyone wait (its
  connector is sized to the gate); with a caller's session it may, and ``pool`` seconds are
  added to ``connect`` for it.
* ``read`` → ``sock_read``: like httpx, the longest wait for the next bytes of the reply.
* ``pool`` → the gate's wait (``_gate``), as on httpx.
* ``write``: aiohttp has no write timeout; its read timer starts once the body is written.
  A body of up to ``UNSTALLABLE_BODY`` bytes is written at once whether or not the server
  reads it (asyncio buffers a socket's writes up to its 64 KiB high-water mark before it
  makes a writer wait, and aiohttp waits for nothing else), so the read timer starts at once
  and a server that stops reading gets no reply out of it within ``read`` seconds
  (``SocketTimeoutError``, MAYBE_SENT). A larger body gets ``total = connect + write + read``,
  so an upload the server stops reading fails (``TimeoutError``, MAYBE_SENT) instead of
  hanging. A request without a body (a few hundred bytes of headers) has no total limit, as
  on httpx.

aiohttp itself re-sends an idempotent request (GET: ``status``, ``status-sync``, ``stream``,
``health``) once when a connection drops before the reply (RFC 9112 §9.3.1); it never
re-sends a POST, so ``run``, ``runsync``, ``retry``, ``cancel`` and ``purge-queue`` reach the
server at most once per attempt the core makes.
"""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import Mapping
from io import BytesIO

import aiohttp
from yarl import URL

from .._constants import KEEPALIVE_EXPIRY, SHORT_CALL_RESERVE
from .base import ApiRequest, ApiResponse, Delivery, Timeouts, TransportFailure
from .gate import GatedTransport
from .tls import default_tls_context

__all__ = ["UNSTALLABLE_BODY", "AiohttpTransport", "classify", "client_timeout", "env_proxy"]

_JSON = {"Content-Type": "application/json"}
# aiohttp labels a bodiless POST (cancel, retry, purge-queue) application/octet-stream;
# httpx, and the API's examples, send no Content-Type there.
_NO_DEFAULT_TYPE = ("Content-Type",)
# Parsed URLs kept per transport (a handful in practice: one per route and hold).
_URL_CACHE_SIZE = 64
# Converted timeouts kept per transport (a handful in practice: one per kind of request).
_TIMEOUT_CACHE_SIZE = 64
#: The largest body that needs no ``total`` timer (see the module docstring): a quarter of
#: asyncio's 64 KiB write high-water mark, which leaves room for the headers and for event
#: loops whose transports buffer less. Each timer costs an armed and a cancelled handle per
#: request.
UNSTALLABLE_BODY = 16 * 1024
# Above this size aiohttp warns (a ResourceWarning) that raw bytes are written in one piece,
# and writes an io.BytesIO in chunks, letting the loop run between them: its own threshold.
_CHUNKED_BODY = 1024 * 1024


def classify(exc: BaseException) -> TransportFailure:
    """An aiohttp (or socket) failure as a failure the core's retry rules understand."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        delivery, timeout = Delivery.NOT_SENT, True
    elif isinstance(exc, aiohttp.ClientConnectorError):
        delivery, timeout = Delivery.NOT_SENT, False
    else:
        # Anything after the connection was made: some or all of the request may have
        # reached the server, and a submit may have created its job.
        delivery, timeout = Delivery.MAYBE_SENT, isinstance(exc, TimeoutError)
    detail = str(exc) or "no detail"
    return TransportFailure(
        delivery=delivery, timeout=timeout, message=f"{type(exc).__name__}: {detail}"
    )


def client_timeout(
    timeouts: Timeouts, *, big_body: bool, pool_waits: bool = True
) -> aiohttp.ClientTimeout:
    """``timeouts`` as aiohttp's ``ClientTimeout`` (see the module docstring). ``big_body``:
    the request's body exceeds :data:`UNSTALLABLE_BODY`; ``pool_waits``: the session's own
    pool may make a request wait (a caller's session)."""
    connect, read, write, pool = timeouts.connect, timeouts.read, timeouts.write, timeouts.pool
    total = None
    if big_body and connect is not None and write is not None and read is not None:
        total = connect + write + read
    if connect is not None and pool_waits:
        connect += pool or 0.0
    return aiohttp.ClientTimeout(
        total=total, connect=connect, sock_connect=timeouts.connect, sock_read=read
    )


def env_proxy(base_url: str) -> str | None:
    """The proxy the environment names for ``base_url`` (as httpx reads it), or ``None``."""
    url = URL(base_url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(url.scheme or "") or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(url.host or ""):
        return None
    return proxy


class AiohttpTransport(GatedTransport[aiohttp.ClientSession]):
    """Requests through an ``aiohttp.ClientSession`` on the running event loop.

    Its own session is made on first use (aiohttp sessions belong to a running loop) and
    renewed on a new loop; a session passed in by the caller is used on its loop only and
    never closed here, nor told which proxy to use. Ours behaves as httpx's client does:
    every idle connection kept for ``KEEPALIVE_EXPIRY`` seconds, certificates checked against
    the same roots (``tls``: certifi, or ``SSL_CERT_FILE``/``SSL_CERT_DIR``), a proxy
    named by the environment (``HTTPS_PROXY``, ``ALL_PROXY``, minus ``NO_PROXY``) used, and
    cookies the API sets kept. Unlike aiohttp's ``trust_env=True`` it reads no ``.netrc``
    (a thread hop per request, and a Basic-auth header that would clash with the API key).
    """

    _what = "http_client (an aiohttp.ClientSession)"

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        session: aiohttp.ClientSession | None = None,
        *,
        max_in_flight: int | None = None,
        reserve: int = SHORT_CALL_RESERVE,
    ) -> None:
        super().__init__(session, max_in_flight=max_in_flight, reserve=reserve)
        # Encoded once (an IDN host, a path with spaces …): requests then append an escaped path.
        self.base_url = str(URL(base_url))
        self.headers = dict(headers)
        self._json_headers = {**self.headers, **_JSON}
        self._seen_timeouts: dict[int, tuple[Timeouts, bool, aiohttp.ClientTimeout]] = {}
        self._timeouts: dict[tuple[object, ...], aiohttp.ClientTimeout] = {}
        self._proxy = None if session is not None else env_proxy(self.base_url)
        self._ssl_context: ssl.SSLContext | None = None
        self._urls: dict[str, URL] = {}
        self._queries: dict[int, tuple[Mapping[str, int], str]] = {}

    def _new_client(self) -> aiohttp.ClientSession:
        if self._ssl_context is None:
            self._ssl_context = default_tls_context()
        connector = aiohttp.TCPConnector(
            limit=self.max_in_flight,
            limit_per_host=0,
            keepalive_timeout=KEEPALIVE_EXPIRY,
            ssl=self._ssl_context,
        )
        # Our headers as the session's defaults: aiohttp copies those in C, while headers
        # passed per request are merged one by one in Python.
        return aiohttp.ClientSession(connector=connector, trust_env=False, headers=self.headers)

    async def _close_client(self, client: aiohttp.ClientSession) -> None:
        await client.close()

    def _timeout_of(self, timeouts: Timeouts, big_body: bool) -> aiohttp.ClientTimeout:
        # Most requests use the client's default timeouts (the same object each time), or
        # timeouts that differ only where aiohttp does not look (the pool wait, decided by
        # the gate; the write phase of a small body): convert each combination once.
        # Looked up by identity first (the entry holds the object, so its id is not reused
        # while cached): the default's and a long-poll's, as a wait alternates them.
        seen = self._seen_timeouts.get(id(timeouts))
        if seen is not None and seen[0] is timeouts and seen[1] is big_body:
            return seen[2]
        pool_waits = not self.owns_client
        key = (
            timeouts.connect,
            timeouts.read,
            timeouts.write if big_body else None,
            timeouts.pool if pool_waits else None,
            big_body,
        )
        converted = self._timeouts.get(key)
        if converted is not None:
            # Most likely timeouts made for one request (capped by its deadline): not kept by
            # identity, where they would only push out the ones that recur.
            return converted
        if len(self._timeouts) >= _TIMEOUT_CACHE_SIZE:
            self._timeouts.clear()
        converted = self._timeouts[key] = client_timeout(
            timeouts, big_body=big_body, pool_waits=pool_waits
        )
        if len(self._seen_timeouts) >= _TIMEOUT_CACHE_SIZE:
            self._seen_timeouts.clear()
        self._seen_timeouts[id(timeouts)] = (timeouts, big_body, converted)
        return converted

    def _url(self, request: ApiRequest) -> URL:
        # The path is escaped already (one segment per id): tell yarl not to requote or
        # normalise it. Query values are ints and names plain ASCII: nothing to escape.
        url = self.base_url + request.path
        params = request.params
        if params:
            # A long-poll's query is one shared mapping per hold (see _wire.requests): write
            # each once. Looked up by identity (the entry holds it, so its id is not reused).
            seen = self._queries.get(id(params))
            if seen is None or seen[0] is not params:
                if len(self._queries) >= _URL_CACHE_SIZE:
                    self._queries.clear()
                query = "?" + "&".join([f"{name}={value}" for name, value in params.items()])
                seen = self._queries[id(params)] = (params, query)
            url += seen[1]
        if request.job_id is not None:
            return URL(url, encoded=True)
        # The URLs of requests about no job (run, runsync, health …) repeat: parse each once.
        parsed = self._urls.get(url)
        if parsed is None:
            if len(self._urls) >= _URL_CACHE_SIZE:
                self._urls.clear()
            parsed = self._urls[url] = URL(url, encoded=True)
        return parsed

    async def _exchange(
        self, client: aiohttp.ClientSession, request: ApiRequest, timeouts: Timeouts
    ) -> ApiResponse | TransportFailure:
        content = request.content
        has_body = content is not None
        skip = _NO_DEFAULT_TYPE if request.method == "POST" and not has_body else None
        headers: Mapping[str, str] | None
        if has_body:
            headers = _JSON if self.owns_client else self._json_headers
        else:
            headers = None if self.owns_client else self.headers
        data: bytes | BytesIO | None = content
        if content is not None and len(content) > _CHUNKED_BODY:
            data = BytesIO(content)
        try:
            async with client.request(
                request.method,
                self._url(request),
                data=data,
                headers=headers,
                timeout=self._timeout_of(
                    timeouts, content is not None and len(content) > UNSTALLABLE_BODY
                ),
                allow_redirects=False,
                raise_for_status=False,
                skip_auto_headers=skip,
                proxy=self._proxy,
            ) as response:
                body = await response.read()
        except (aiohttp.ClientError, OSError) as exc:  # TimeoutError is an OSError
            return classify(exc)
        return ApiResponse(response.status, response.headers, body)
