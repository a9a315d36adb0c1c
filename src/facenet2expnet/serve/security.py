"""Who may talk to the server: the ``Host`` allow-list, the same-origin rule built on it, and the optional API key.

One ASGI middleware applies the three rules, in this order, before any route runs:

1. **Host.** A request whose ``Host`` header names a host the server was not started for is refused (400
   ``bad_host``). This is what stops DNS rebinding: a page on ``evil.test`` whose name now resolves to 127.0.0.1
   sends ``Host: evil.test``, which no allow-list holds. Allowed by default: the bind address, ``localhost``,
   ``127.0.0.1`` and ``[::1]``, on any port; ``--allowed-host`` adds names (``*`` allows any host).
2. **Origin.** A browser request from another site (``Origin`` not ``scheme://Host`` of an allowed host) is refused
   (403 ``cross_origin``) unless ``--cors`` names that origin; requests without ``Origin`` (curl, scripts) pass.
3. **Key.** With ``--api-key-file`` (or ``FN2EN_API_KEY``), every ``/v1/`` route wants ``Authorization: Bearer
   KEY`` (401 ``unauthorized``); the page, ``/docs`` and ``/healthz`` stay open so that a person can read how to
   send it. The key is compared in constant time and never logged or echoed.
"""

from __future__ import annotations

import hmac
import ipaddress
import os

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
API_KEY_ENV = "FN2EN_API_KEY"
KEYED_PREFIX = "/v1/"  # the routes that do work; the page, /docs and /healthz stay readable without the key


def host_name(host_header: str) -> str:
    """``Host`` header -> the host alone, lower case: ``example.test:8000`` -> ``example.test``, ``[::1]:80`` ->
    ``[::1]``."""
    h = host_header.strip().lower()
    if h.startswith("["):  # an IPv6 literal keeps its brackets; its port follows them
        return h[: h.find("]") + 1] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def allowed_hosts(bind: str, extra: list[str]) -> set[str]:
    """The hosts the server answers to: its bind address (a wildcard bind adds nothing), loopback, ``extra``."""
    hosts = set(LOOPBACK_HOSTS) | {host_name(h) for h in extra}
    if bind not in ("0.0.0.0", "::", ""):
        hosts.add(f"[{bind}]" if ":" in bind and not bind.startswith("[") else bind.lower())
    return hosts


def is_loopback(bind: str) -> bool:
    if bind == "localhost":
        return True
    try:
        return ipaddress.ip_address(bind.strip("[]")).is_loopback
    except ValueError:
        return False


def read_api_key(path: str | None) -> str | None:
    """The key from ``path`` (its first line), else from ``$FN2EN_API_KEY``, else None (no key)."""
    from ..errors import FaceNet2ExpNetError

    if path:
        try:
            with open(path, encoding="utf-8") as f:
                key = f.readline().strip()
        except OSError as exc:
            raise FaceNet2ExpNetError(
                f"--api-key-file {path}: cannot be read ({exc.strerror}); give a file whose first line is the key"
            ) from None
        if not key:
            raise FaceNet2ExpNetError(f"--api-key-file {path}: the first line is empty; write the key there")
        return key
    return os.environ.get(API_KEY_ENV) or None


def origin_allowed(origin: str, host: str | None, scheme: str, cors: list, hosts: set[str]) -> bool:
    """A request from the server's own page (``Origin`` is scheme://Host, Host allowed) or an origin ``--cors``
    names."""
    if origin in cors or "*" in cors:
        return True
    return host is not None and host_name(host) in hosts and origin.lower() == f"{scheme}://{host}".lower()


def key_matches(authorization: str | None, key: str) -> bool:
    """``Authorization: Bearer KEY``, compared in constant time (no timing tells how much of a guess was right)."""
    scheme, _, given = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), key.encode())


class GuardMiddleware:
    """The three rules above as one pure ASGI middleware (it runs before routing, for every HTTP request)."""

    def __init__(self, app, hosts: set[str], cors: list, api_key: str | None, respond):
        self.app, self.hosts, self.cors, self.api_key, self.respond = app, hosts, cors, api_key, respond

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        refusal = self.refusal(scope, headers)
        if refusal is not None:
            return await self.respond(*refusal)(scope, receive, send)
        return await self.app(scope, receive, send)

    def refusal(self, scope, headers: dict) -> tuple | None:
        """(status, code, message, headers) of the rule the request breaks, or None."""
        host = headers.get("host")
        if "*" not in self.hosts and (host is None or host_name(host) not in self.hosts):
            shown = (host or "none")[:60]
            return (
                400,
                "bad_host",
                f"the Host header {shown!r} is not one this server answers to ({', '.join(sorted(self.hosts))}); "
                "open it by one of those names, or start it with --allowed-host NAME",
                None,
            )
        origin = headers.get("origin")
        if origin is not None and not origin_allowed(origin, host, scope.get("scheme", "http"), self.cors, self.hosts):
            return (
                403,
                "cross_origin",
                f"requests from {origin[:60]!r} are refused: this server answers its own page and non-browser "
                "clients; start it with --cors ORIGIN to allow that origin",
                None,
            )
        if self.api_key and scope.get("path", "").startswith(KEYED_PREFIX) and scope.get("method") != "OPTIONS":
            if not key_matches(headers.get("authorization"), self.api_key):
                return (
                    401,
                    "unauthorized",
                    "this server wants an API key: send the header 'Authorization: Bearer <key>' (the page has a "
                    "field for it; /docs: the Authorize button)",
                    {"WWW-Authenticate": "Bearer"},
                )
        return None
