"""``/metrics``: Prometheus text, guarded by the socket peer and an optional bearer token."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from starlette.testclient import TestClient

from quivive.services.accounts import NewAccount
from quivive.web.app import create_app
from support.quivive import running_services

LOCAL = ("127.0.0.1", 40000)
REMOTE = ("203.0.113.9", 40000)
PASSWORD = "correct horse battery staple 42"


@contextmanager
def client(tmp_path: Path, peer: tuple[str, int], **settings: str) -> Iterator[TestClient]:
    with running_services(tmp_path, settings=settings) as services:
        app = create_app(services)
        with TestClient(app, base_url="http://localhost:8080", client=peer) as test_client:
            yield test_client


def sign_in(client: TestClient, username: str, password: str) -> None:
    page = client.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    client.post("/login", data={"csrf_token": token, "username": username, "password": password})


def test_localhost_reads_metrics(tmp_path: Path) -> None:
    with client(tmp_path, LOCAL) as local:
        local.get("/healthz")
        response = local.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    assert 'quivive_http_request_duration_seconds_count{method="GET",status="200"}' in response.text


def test_made_up_methods_share_one_label(tmp_path: Path) -> None:
    with client(tmp_path, LOCAL) as local:
        for method in ("BREW", "WHEN", "BREW"):
            local.request(method, "/healthz")
        text = local.get("/metrics").text

    assert 'quivive_http_request_duration_seconds_count{method="OTHER",status="405"} 3.0' in text
    assert "BREW" not in text


def test_a_remote_peer_is_refused_by_default(tmp_path: Path) -> None:
    with client(tmp_path, REMOTE) as remote:
        response = remote.get("/metrics")

    assert response.status_code == 403
    assert "quivive_" not in response.text


def test_a_spoofed_forwarded_for_does_not_make_a_peer_local(tmp_path: Path) -> None:
    with client(tmp_path, REMOTE, trusted_proxies="1") as remote:
        response = remote.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})

    assert response.status_code == 403


def test_the_token_is_required_when_set(tmp_path: Path) -> None:
    settings = {"metrics_token": "scrape-t0ken", "metrics_localhost_only": "false"}
    with client(tmp_path, REMOTE, **settings) as remote:
        missing = remote.get("/metrics")
        wrong = remote.get("/metrics", headers={"Authorization": "Bearer nope"})
        basic = remote.get("/metrics", headers={"Authorization": "Basic scrape-t0ken"})
        right = remote.get("/metrics", headers={"Authorization": "Bearer scrape-t0ken"})

    assert [r.status_code for r in (missing, wrong, basic)] == [401, 401, 401]
    assert missing.headers["www-authenticate"] == "Bearer"
    assert right.status_code == 200


def test_token_and_localhost_both_apply(tmp_path: Path) -> None:
    with client(tmp_path, REMOTE, metrics_token="scrape-t0ken") as remote:
        response = remote.get("/metrics", headers={"Authorization": "Bearer scrape-t0ken"})

    assert response.status_code == 403


def test_sign_ins_throttles_and_audit_latency_are_counted(tmp_path: Path) -> None:
    with client(tmp_path, LOCAL, throttle_free_attempts="1") as local:
        services = local.app.state.quivive.services  # type: ignore[attr-defined]
        services.accounts.create(NewAccount("alice", PASSWORD), actor="test")
        sign_in(local, "alice", PASSWORD)
        sign_in(local, "alice", "wrong password here")  # the one free failure: a delay starts
        text = local.get("/metrics").text

    assert 'quivive_sign_ins_total{factor="password",outcome="failure"} 1.0' in text
    assert 'quivive_sign_ins_total{factor="password",outcome="success"} 1.0' in text
    assert 'quivive_throttles_total{kind="pair"} 1.0' in text
    assert "quivive_audit_append_seconds_count" in text
    assert 'quivive_audit_events_total{action="user.created",outcome="success"} 1.0' in text


def test_two_apps_keep_separate_registries(tmp_path: Path) -> None:
    with client(tmp_path / "a", LOCAL) as first, client(tmp_path / "b", LOCAL) as second:
        first.get("/healthz")
        first.get("/healthz")
        text = second.get("/metrics").text

    assert 'quivive_http_request_duration_seconds_count{method="GET",status="200"}' not in text
