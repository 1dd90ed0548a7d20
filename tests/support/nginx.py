"""Debian's nginx on 127.0.0.1 with its own prefix, for the gate tests: the docs' include files
copied in, and the ``server`` blocks a test gives it."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from support.gate_proxy import free_port, wait_for_port

NGINX = "/usr/sbin/nginx"
DOCS = Path(__file__).resolve().parents[2] / "docs"
SNIPPETS = ("quivive-verify.conf", "quivive-protect.conf")
NGINX_CONF = """
{user}
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
{servers}
}}
"""


@contextmanager
def run_nginx(prefix: Path, servers: Callable[[int], str]) -> Iterator[int]:
    """nginx serving ``servers(port)``, the docs' include files copied into ``prefix``; yields
    the port once nginx accepts connections."""
    prefix.mkdir()
    for snippet in SNIPPETS:
        shutil.copy(DOCS / "nginx" / snippet, prefix / snippet)
    port = free_port()
    user = "user root;" if os.geteuid() == 0 else ""
    config = NGINX_CONF.format(user=user, prefix=prefix, servers=servers(port))
    (prefix / "nginx.conf").write_text(config)
    command = [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", "stderr"]
    check = subprocess.run([*command, "-t"], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        log = prefix / "error.log"
        wait_for_port(port, lambda: process.poll() is None, lambda: log.read_text())
        yield port
    finally:
        process.terminate()
        process.wait(10)
