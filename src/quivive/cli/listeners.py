"""Listening sockets for the servers the CLI starts, with one clear line when a port is taken."""

from __future__ import annotations

import errno
import socket

from quivive.cli.context import fail

LISTEN_BACKLOG = 2048


def bind_listener(
    host: str, port: int, *, hint: str = "is Quivive already running?"
) -> socket.socket:
    """Bind now, before any slow start-up work, so a taken port fails at once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            fail(f"port {port} on {host} is already in use ({hint})")
        fail(f"cannot listen on {host}:{port}: {exc.strerror}")
    sock.listen(LISTEN_BACKLOG)
    sock.set_inheritable(True)
    return sock
