"""Load benchmarks for Quivive: ``python -m bench [--only NAME] [--duration S]``.

A benchmark is a function in a module ``bench/bench_*.py``, registered with
``@harness.benchmark("name")``; it takes ``harness.Options`` and returns ``harness.Result``(s).
It serves the app under test with ``harness.ServerProcess("module:factory")`` and loads it with
``harness.run_wrk(...)``; baselines (a bare endpoint doing the same work) live in
``bench/baseline_apps.py``.
"""
