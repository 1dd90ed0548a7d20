"""The benchmarks' lean HTTP client (``bench/lean_http.py``) against a real HTTP/1.1 server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from bench.lean_http import LeanConnection, LeanHttpError


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as uvicorn serves

    def do_GET(self) -> None:
        if self.path == "/chunked":
            self._answer(200, [("Transfer-Encoding", "chunked")], b"0\r\n\r\n", length=False)
        elif self.path == "/hang-up":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"cut short")
            self.close_connection = True
        else:
            cookies = [("Set-Cookie", "a=1; Path=/; HttpOnly"), ("Set-Cookie", "b=two=2; Secure")]
            seen = self.headers.get("Cookie", "-")
            self._answer(200, [*cookies, ("X-Seen-Cookie", seen)], self.path.encode())

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        kind = self.headers["Content-Type"]
        self._answer(303, [("Location", "/account"), ("X-Kind", kind)], body)

    def _answer(
        self, status: int, headers: list[tuple[str, str]], body: bytes, *, length: bool = True
    ) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    connections = 0

    def process_request(self, request: object, client_address: object) -> None:
        self.connections += 1
        super().process_request(request, client_address)  # type: ignore[arg-type]


@pytest.fixture
def server() -> Iterator[_Server]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


def _connect(server: _Server) -> LeanConnection:
    return LeanConnection("127.0.0.1", server.server_address[1], timeout=5)


def test_answers_come_back_whole_on_one_kept_alive_connection(server: _Server) -> None:
    connection = _connect(server)
    try:
        first = connection.get("/one")
        second = connection.post_form("/login", "user=alice&code=123456", "a=1; b=two=2")
    finally:
        connection.close()

    assert (first.status, first.body) == (200, b"/one")
    assert first.set_cookies == {"a": "1", "b": "two=2"}  # attributes dropped, "=" in a value kept
    assert first.headers["x-seen-cookie"] == "-"
    assert second.status == 303
    assert second.headers["location"] == "/account"
    assert second.headers["x-kind"] == "application/x-www-form-urlencoded"
    assert second.body == b"user=alice&code=123456"
    assert server.connections == 1


def test_the_cookie_header_is_sent_as_given(server: _Server) -> None:
    connection = _connect(server)
    try:
        answer = connection.get("/", "quivive_session=abc; quivive_device=d-1")
    finally:
        connection.close()

    assert answer.headers["x-seen-cookie"] == "quivive_session=abc; quivive_device=d-1"


@pytest.mark.parametrize(("path", "reason"), [("/chunked", "chunked"), ("/hang-up", "closed")])
def test_an_answer_it_cannot_read_raises(server: _Server, path: str, reason: str) -> None:
    connection = _connect(server)
    try:
        with pytest.raises(LeanHttpError, match=reason):
            connection.get(path)
    finally:
        connection.close()
