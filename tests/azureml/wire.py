"""The network under the real SDKs, replaced: one dispatcher (`Wire`) that answers each
HTTP request from a small stateful fake of the Azure ML service (service_v1/service_v2),
forwards blob storage requests to Azurite, and records every request it saw.

Two ways in, as the SDKs make their requests:
- `intercept(wire)`: the `responses` library over `requests` (azureml-core, msrest, and
  the storage clients azure-ai-ml makes itself all use requests);
- `WireTransport(wire)`: an azure-core transport for `MLClient(..., transport=...)`.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
import responses
import urllib3
from azure.core.pipeline.transport import RequestsTransport

from tests.azurite import Azurite

_HOP = {"transfer-encoding", "connection", "keep-alive"}


@dataclass
class Request:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.url).query)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # bytes as they are; anything else as JSON
    headers: dict[str, str] = field(default_factory=dict)

    def content(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return b"" if self.body is None else json.dumps(self.body).encode()

    def all_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if not isinstance(self.body, bytes) and self.body is not None:
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
        headers.setdefault("x-ms-request-id", "00000000-0000-0000-0000-000000000001")
        return headers


Handler = Callable[[Request, "re.Match[str]"], Reply]
# A fault answers instead of the fake (an unhappy path): a Reply, or None to let it through.
Fault = Callable[[Request], Reply | None]


def fail(method: str, pattern: str, status: int, message: str, code: str = "UserError", times: int | None = None,
         headers: dict[str, str] | None = None) -> Fault:
    """A fault: the service answers `status` with Azure's error body to requests matching
    method and path (regex), `times` times (None: always)."""
    left = [times]

    def fault(request: Request) -> Reply | None:
        if request.method != method or not re.search(pattern, request.path) or left[0] == 0:
            return None
        if left[0] is not None:
            left[0] -= 1
        return Reply(status, {"error": {"code": code, "message": message}}, dict(headers or {}))

    return fault


class Unrouted(Exception):
    """A request no fake answers: the SDK called something this file does not know."""


class Wire:
    def __init__(self, azurite: Azurite) -> None:
        self.azurite = azurite
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self.unrouted: list[str] = []

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """`pattern` matches the URL's path (regex, searched) for requests to a service."""
        self.routes.append((method, re.compile(pattern), handler))

    def handle(self, request: Request) -> Reply:
        if request.host == "127.0.0.1":  # the tests' own look into Azurite (path-style), not the SDK's
            return self.forward(request)
        self.requests.append(request)
        for fault in self.faults:
            reply = fault(request)
            if reply is not None:
                return reply
        if request.host.endswith(".blob.core.windows.net"):
            return self.forward(request)
        for method, pattern, handler in self.routes:
            match = pattern.search(request.path)
            if method == request.method and match:
                return handler(request, match)
        self.unrouted.append(f"{request.method} {request.url}")
        raise Unrouted(f"no fake answers {request.method} {request.url}")

    def forward(self, request: Request) -> Reply:
        """To Azurite, with the request's own Host header (the account is read from it)."""
        split = urlsplit(request.url)
        target = split.path + (f"?{split.query}" if split.query else "")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "connection")}
        headers["Host"] = split.netloc
        connection = http.client.HTTPConnection("127.0.0.1", self.azurite.port, timeout=60)
        try:
            connection.request(request.method, target, body=request.body or None, headers=headers)
            answer = connection.getresponse()
            body = answer.read()
            return Reply(answer.status, body, {k: v for k, v in answer.getheaders() if k.lower() not in _HOP})
        finally:
            connection.close()

    def bodies(self, method: str, pattern: str) -> list[Any]:
        """The JSON bodies of the requests made to a path (regex), in order."""
        return [r.json() for r in self.requests if r.method == method and re.search(pattern, r.path)]

    def calls(self, pattern: str) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.requests if re.search(pattern, r.path)]


def _body(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    if hasattr(body, "read"):
        data = body.read()
        return data.encode() if isinstance(data, str) else bytes(data)
    return b"".join(c.encode() if isinstance(c, str) else bytes(c) for c in body)


@contextmanager
def intercept(wire: Wire) -> Iterator[responses.RequestsMock]:
    """Every request `requests` sends, answered by the wire (none reaches a network)."""

    def callback(prepared: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        reply = wire.handle(Request(prepared.method or "GET", prepared.url or "", dict(prepared.headers),
                                    _body(prepared.body)))
        return reply.status, reply.all_headers(), reply.content()

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"):
            mock.add_callback(method, re.compile(r"https?://.*"), callback=callback)
        yield mock


class _WireAdapter(requests.adapters.HTTPAdapter):
    def __init__(self, wire: Wire) -> None:
        super().__init__()
        self.wire = wire

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        reply = self.wire.handle(Request(request.method or "GET", request.url or "", dict(request.headers),
                                         _body(request.body)))
        content = reply.content()
        raw = urllib3.HTTPResponse(body=io.BytesIO(content), headers=reply.all_headers(), status=reply.status,
                                   preload_content=False, decode_content=False,
                                   reason=http.client.responses.get(reply.status, ""))
        return self.build_response(request, raw)


class WireTransport(RequestsTransport):  # type: ignore[misc]
    """azure-core's requests transport over a session that sends nothing: the wire answers."""

    def __init__(self, wire: Wire) -> None:
        session = requests.Session()
        adapter = _WireAdapter(wire)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        super().__init__(session=session, session_owner=False)


def jwt(**claims: Any) -> str:
    """A token shaped as Azure AD's (header.payload.signature, base64url JSON): the SDKs
    read exp, tid and aud from it; nobody checks the signature here."""
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    payload = {"exp": int(time.time()) + 3600, "iat": int(time.time()), "tid": TENANT, "oid": OBJECT_ID,
               "upn": "wire@example.com", **claims}
    return f"{part({'typ': 'JWT', 'alg': 'RS256'})}.{part(payload)}.c2lnbmF0dXJl"


TENANT = "11111111-1111-1111-1111-111111111111"
OBJECT_ID = "22222222-2222-2222-2222-222222222222"
SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
