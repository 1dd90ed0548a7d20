"""A minimal HTTP/1.1 keep-alive client for load loops that wrk cannot script.

The load generator shares this machine's two cores with the server it measures, so whatever it
spends per request is taken from the server. With ``http.client`` and ``SimpleCookie``, the TOTP
benchmark's client spent 0.51 ms of CPU per password sign-in and 0.99 ms per password + TOTP
sign-in (two requests): the second request's client cost alone weighed about 2 % on the ratio it
reports. With this client, 0.25 and 0.55 ms. It sends each request as one buffer and reads the
answer by its Content-Length, which is all a Quivive page or redirect needs; anything else (a
chunked body, a connection closed mid-answer) raises rather than being guessed at. What remains
is mostly the sixteen client threads taking turns on the GIL around their blocking reads.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass, field

_HEADER_END = b"\r\n\r\n"
_RECV_BYTES = 65536


class LeanHttpError(RuntimeError):
    """An answer this client does not read (it is not meant to be a general HTTP client)."""


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    set_cookies: dict[str, str] = field(default_factory=dict)  # name -> value, attributes dropped
    body: bytes = b""


class LeanConnection:
    """One keep-alive connection to ``host:port``; not thread-safe (one per load thread)."""

    def __init__(self, host: str, port: int, *, timeout: float = 30.0) -> None:
        self._host = f"{host}:{port}"
        self._socket = socket.create_connection((host, port), timeout=timeout)
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = b""

    def get(self, path: str, cookie: str = "") -> Reply:
        return self._exchange(self._head("GET", path, cookie) + b"\r\n")

    def post_form(self, path: str, form: str, cookie: str = "") -> Reply:
        """POST an already urlencoded ``form``."""
        body = form.encode()
        head = self._head("POST", path, cookie)
        head += b"Content-Type: application/x-www-form-urlencoded\r\n"
        head += b"Content-Length: %d\r\n\r\n" % len(body)
        return self._exchange(head + body)

    def close(self) -> None:
        self._socket.close()

    def _head(self, method: str, path: str, cookie: str) -> bytes:
        lines = f"{method} {path} HTTP/1.1\r\nHost: {self._host}\r\n"
        if cookie:
            lines += f"Cookie: {cookie}\r\n"
        return lines.encode()

    def _exchange(self, request: bytes) -> Reply:
        self._socket.sendall(request)
        head = self._read_head()
        status, headers, cookies = _parse_head(head)
        if "chunked" in headers.get("transfer-encoding", ""):
            raise LeanHttpError("a chunked answer: only Content-Length bodies are read")
        return Reply(status, headers, cookies, self._read_exactly(int(headers["content-length"])))

    def _read_head(self) -> bytes:
        while (end := self._buffer.find(_HEADER_END)) < 0:
            self._fill()
        head, self._buffer = self._buffer[:end], self._buffer[end + len(_HEADER_END) :]
        return head

    def _read_exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            self._fill()
        body, self._buffer = self._buffer[:size], self._buffer[size:]
        return body

    def _fill(self) -> None:
        chunk = self._socket.recv(_RECV_BYTES)
        if not chunk:
            raise LeanHttpError("the server closed the connection mid-answer")
        self._buffer += chunk


def cookie_header(cookies: dict[str, str]) -> str:
    """The ``Cookie`` header a browser holding ``cookies`` (name -> value) sends back."""
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


def _parse_head(head: bytes) -> tuple[int, dict[str, str], dict[str, str]]:
    status_line, *lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise LeanHttpError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
    headers, cookies = split_headers(line.partition(":")[::2] for line in lines)
    if "content-length" not in headers and "transfer-encoding" not in headers:
        raise LeanHttpError("an answer without Content-Length")
    return int(parts[1]), headers, cookies


def split_headers(pairs: Iterable[tuple[str, str]]) -> tuple[dict[str, str], dict[str, str]]:
    """Header (name, value) pairs as a ``Reply`` keeps them: the headers by lower-case name, and
    the cookies set (``Set-Cookie``), by name, their attributes dropped."""
    headers: dict[str, str] = {}
    cookies: dict[str, str] = {}
    for raw_name, raw_value in pairs:
        name, value = raw_name.strip().lower(), raw_value.strip()
        if name == "set-cookie":
            pair = value.split(";", 1)[0]
            cookie_name, _, cookie_value = pair.partition("=")
            cookies[cookie_name.strip()] = cookie_value.strip()
        else:
            headers[name] = value
    return headers, cookies
