"""The metrics registry's own behaviour (what the endpoints expose is tested in tests/web)."""

from __future__ import annotations

import pytest

from quivive.services import metrics as metrics_module
from quivive.services.metrics import Metrics


def _sample(metrics: Metrics, name: str, labels: dict[str, str]) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_a_remembered_child_counts_into_the_same_series() -> None:
    metrics = Metrics()

    metrics.child(metrics.tokens, "client_credentials").inc()
    metrics.child(metrics.tokens, "client_credentials").inc()
    metrics.tokens.labels("client_credentials").inc()

    assert _sample(metrics, "quivive_tokens_issued_total", {"grant": "client_credentials"}) == 3


def test_children_beyond_the_bound_still_count_but_are_not_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(metrics_module, "MAX_CACHED_CHILDREN", 2)
    metrics = Metrics()

    for method in ("GET", "POST", "BREW", "BREW"):  # a client may send any method name
        metrics.child(metrics.requests, method, "200").observe(0.001)

    assert len(metrics._children) == 2
    count = "quivive_http_request_duration_seconds_count"
    assert _sample(metrics, count, {"method": "BREW", "status": "200"}) == 2
