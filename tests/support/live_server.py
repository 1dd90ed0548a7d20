"""Run an ASGI app with uvicorn in a background thread, for tests that need a real socket.

The listening socket is bound to port 0 and put into listen mode *before* uvicorn starts, then
handed to uvicorn: the port is known at once and no other process can take it in between.
"""

import contextlib
import socket
import threading
import time
from types import TracebackType
from typing import Any, Self

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

HOST = "127.0.0.1"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
# Short: the server is local and idle connections only slow the shutdown down.
GRACEFUL_SHUTDOWN_S = 2


class LiveServer:
    """Serve ``app`` on ``http://localhost:PORT`` for the duration of a ``with`` block.

    The URL says ``localhost``, not ``127.0.0.1``: Chromium refuses an IP address as a WebAuthn
    RP ID. Extra keyword arguments go to ``uvicorn.Config`` (e.g. ``lifespan="on"``).
    """

    def __init__(self, app: ASGIApp, **config: Any) -> None:
        self._app = app
        self._config = config
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        if not self.port:
            raise RuntimeError("LiveServer is not running")
        return f"http://localhost:{self.port}"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("LiveServer already started")
        self._socket = _listening_socket()
        self.port = self._socket.getsockname()[1]
        self._server = server = uvicorn.Server(self._uvicorn_config())
        self._thread = thread = threading.Thread(
            target=_serve,
            args=(server, self._socket),
            name=f"live-server-{self.port}",
            daemon=True,
        )
        thread.start()
        try:
            _wait_until_started(server, thread, self.port)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_S)
            if self._thread.is_alive():
                raise RuntimeError(f"LiveServer on port {self.port} did not stop")
        if self._socket is not None:
            self._socket.close()
        self._socket, self._server, self._thread = None, None, None
        self.port = 0

    def _uvicorn_config(self) -> uvicorn.Config:
        settings: dict[str, Any] = {
            # No dictConfig of our own: uvicorn's records then reach pytest's log capture.
            "log_config": None,
            "log_level": "warning",
            "access_log": False,
            "ws": "none",
            "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S,
        }
        settings.update(self._config)
        return uvicorn.Config(self._app, **settings)


def _serve(server: uvicorn.Server, sock: socket.socket) -> None:
    # uvicorn raises SystemExit when start-up fails; it has logged why, and
    # _wait_until_started reports it to the test.
    with contextlib.suppress(SystemExit):
        server.run(sockets=[sock])


def _wait_until_started(server: uvicorn.Server, thread: threading.Thread, port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("LiveServer: uvicorn exited during start-up (see the log)")
        if time.monotonic() > deadline:
            raise TimeoutError(f"LiveServer did not start within {START_TIMEOUT_S} s")
        time.sleep(0.01)
    _wait_until_accepting(port, deadline)


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    sock.listen(128)
    return sock


def _wait_until_accepting(port: int, deadline: float) -> None:
    while True:
        try:
            with socket.create_connection((HOST, port), timeout=1.0):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class LateApp:
    """An ASGI app whose real app is plugged in once the live server's port is known.

    Quivive's public URL must be the address the browser uses (CSRF compares the Origin header
    with it, WebAuthn derives its RP ID from it), and that address holds the port LiveServer picks
    only when it starts: serve a ``LateApp``, then set ``.app`` to the app built for that URL.
    """

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.app is None:
            raise RuntimeError("the app is not plugged in yet")
        await self.app(scope, receive, send)
