"""The benchmark harness (``bench/harness.py``): wrk parsing and scripts, the server subprocess."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from bench.harness import (
    REPO_ROOT,
    Result,
    ServerProcess,
    bracketed_mean,
    figures,
    lua_string,
    markdown_table,
    parse_wrk,
    run_wrk,
    write_wrk_script,
    wrk_command,
)

from support.services import require_service

WRK_OUTPUT = """\
Running 5s test @ http://127.0.0.1:8000/
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   801.49us  262.52us   8.63ms   92.77%
    Req/Sec    20.23k     1.43k   21.88k    86.00%
  Latency Distribution
     50%  760.00us
     75%  829.00us
     90%    0.95ms
     99%    2.14ms
  100652 requests in 5.00s, 13.34MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:  20128.50
Transfer/sec:      2.67MB
"""


def require_wrk() -> None:
    require_service("wrk", shutil.which("wrk") is not None, "not on PATH (apt-get install wrk)")


def test_parse_wrk_reads_rate_percentiles_and_errors() -> None:
    report = parse_wrk(WRK_OUTPUT)

    assert report.requests_per_s == 20128.50
    assert report.p50_ms == pytest.approx(0.76)
    assert report.p99_ms == pytest.approx(2.14)
    assert report.requests == 100652
    assert report.non_2xx_3xx == 7
    assert report.socket_errors == 3


def test_parse_wrk_converts_seconds() -> None:
    output = WRK_OUTPUT.replace("760.00us", "1.50s").replace("2.14ms", "2.00m")

    report = parse_wrk(output)

    assert report.p50_ms == 1500.0
    assert report.p99_ms == 120_000.0


def test_parse_wrk_rejects_output_without_latency_distribution() -> None:
    output = "\n".join(line for line in WRK_OUTPUT.splitlines() if "%" not in line)

    with pytest.raises(ValueError, match="not a wrk --latency report"):
        parse_wrk(output)


def test_wrk_command_is_bounded_and_single_threaded(tmp_path: Path) -> None:
    script = tmp_path / "post.lua"

    command = wrk_command("http://127.0.0.1:9/x", connections=8, duration=2.4, script=script)

    assert command == [
        "wrk",
        "-t1",
        "-c8",
        "-d2s",
        "--latency",
        "-s",
        str(script),
        "http://127.0.0.1:9/x",
    ]


@pytest.mark.parametrize(
    "url", ["http://10.0.0.1:80/", "http://example.org/", "http://127.0.0.1.nip.io/"]
)
def test_wrk_command_refuses_other_hosts_than_loopback(url: str) -> None:
    with pytest.raises(ValueError, match=r"only target 127\.0\.0\.1"):
        wrk_command(url, connections=1, duration=1)


def test_lua_string_escapes_quotes_backslashes_and_non_ascii() -> None:
    assert lua_string('a"b\\c\né') == '"a\\034b\\092c\\010\\195\\169"'
    assert lua_string("grant_type=password&x=1") == '"grant_type=password&x=1"'


def test_write_wrk_script(tmp_path: Path) -> None:
    script = write_wrk_script(
        tmp_path / "post.lua", body="a=1", headers={"Content-Type": "text/plain"}
    )

    assert script.read_text() == (
        'wrk.method = "POST"\nwrk.body = "a=1"\nwrk.headers["Content-Type"] = "text/plain"\n'
    )


def test_markdown_table_shows_ratio_and_dashes_without_baseline() -> None:
    results = [
        Result("token", 2500.0, baseline=5000.0, baseline_name="bare", target=">= 0.4"),
        Result("login", 50.0),
    ]

    table = markdown_table(results).splitlines()

    assert table[2] == "| token | 2,500 req/s | 5,000 req/s (bare) | 0.50 | >= 0.4 |"
    assert table[3] == "| login | 50 req/s | — | — | — |"


def test_figures_lists_loads_in_turn_with_the_format_given() -> None:
    assert figures([88.4, 1234.0, 79.6], ",.0f") == "88 / 1,234 / 80"
    assert figures((value for value in (0.875, 0.9)), ".2f") == "0.88 / 0.90"


def test_bracketed_mean_weighs_each_baseline_by_the_rounds_it_brackets() -> None:
    # Baselines before, between and after three rounds: the ends stand for half a round each.
    assert bracketed_mean([90.0, 80.0, 80.0, 70.0]) == pytest.approx(80.0)
    assert bracketed_mean([100.0, 80.0]) == pytest.approx(90.0)
    # A steady drift weighs on the baseline as on the rounds measured between (95, 85, 75).
    assert bracketed_mean([100.0, 90.0, 80.0, 70.0]) == pytest.approx((95 + 85 + 75) / 3)
    with pytest.raises(ValueError, match="before and after"):
        bracketed_mean([90.0])


def test_server_process_serves_a_factory_and_a_post_script(tmp_path: Path) -> None:
    require_wrk()
    script = write_wrk_script(
        tmp_path / "form.lua",
        body="username=alice&password=s%C3%A9same",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    with ServerProcess("bench.baseline_apps:form_app") as server:
        report = run_wrk(server.url + "/", connections=2, duration=1, script=script)

    assert report.requests > 0
    assert report.non_2xx_3xx == 0
    assert report.socket_errors == 0


def test_server_process_counts_error_responses() -> None:
    require_wrk()

    with ServerProcess("bench.baseline_apps:form_app") as server:
        report = run_wrk(server.url + "/", connections=1, duration=1)  # GET: 405

    assert report.non_2xx_3xx == report.requests > 0


def test_server_process_reports_a_factory_that_fails() -> None:
    server = ServerProcess("bench.baseline_apps:no_such_app")

    with pytest.raises(RuntimeError, match="exited during start-up") as failure:
        server.start()
    assert "no_such_app" in str(failure.value)


def test_python_m_bench_runs_the_selfcheck() -> None:
    require_wrk()

    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "harness-selfcheck", "--duration", "1"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert "| harness-selfcheck |" in completed.stdout
    assert "| 1.00 |" in completed.stdout
