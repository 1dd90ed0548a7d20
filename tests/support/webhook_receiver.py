"""A webhook receiver on a real socket: checks each signature, fails the first N attempts."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from quivive.services.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from support.live_server import LiveServer

TOLERANCE_S = 300.0


@dataclass
class Receiver:
    secret: bytes
    fail_first: int = 0
    attempts: int = 0
    bad_signatures: int = 0
    accepted: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    async def hook(self, request: Request) -> Response:
        self.attempts += 1
        body = await request.body()
        timestamp = request.headers.get(TIMESTAMP_HEADER, "")
        presented = request.headers.get(SIGNATURE_HEADER, "")
        if not verify_signature(
            self.secret, timestamp, body, presented, now=time.time(), tolerance_s=TOLERANCE_S
        ):
            self.bad_signatures += 1
            return Response(status_code=401)
        if self.attempts <= self.fail_first:
            return Response(status_code=500)
        self.accepted.append(json.loads(body))
        return Response(status_code=204)


@contextmanager
def webhook_receiver(secret: str, *, fail_first: int = 0) -> Iterator[Receiver]:
    receiver = Receiver(secret.encode(), fail_first)
    app = Starlette(routes=[Route("/hook", receiver.hook, methods=["POST"])])
    with LiveServer(app) as server:
        receiver.url = f"http://127.0.0.1:{server.port}/hook"
        yield receiver
