"""Pieces for load benchmarks: a registry, a server in a subprocess, a wrk load and its report.

The server under test runs in its own process so that it does not share a GIL (or a core's
scheduling) with the load generator. Every load targets 127.0.0.1 and is bounded in time.
"""

import argparse
import http.client
import importlib
import os
import pkgutil
import re
import shutil
import socket
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import uvicorn

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DURATION_S = 5.0
DEFAULT_CONNECTIONS = 16
SERVER_START_TIMEOUT_S = 20.0
SERVER_STOP_TIMEOUT_S = 10.0
# The sign-in form's CSRF token, as GET /login renders it (group 1).
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
# wrk's own run may overshoot its duration by its connect and report time; beyond this, it hangs.
WRK_GRACE_S = 30.0


# --- results and registry ---------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """One row of the report: a measured figure and, when there is one, what it is compared to."""

    benchmark: str
    figure: float
    unit: str = "req/s"
    baseline: float | None = None
    baseline_name: str = ""
    target: str = ""
    detail: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.figure / self.baseline


@dataclass(frozen=True)
class Options:
    """What every benchmark receives from the command line."""

    duration: float = DEFAULT_DURATION_S
    connections: int = DEFAULT_CONNECTIONS


BenchmarkFunc = Callable[[Options], Result | list[Result]]
BENCHMARKS: dict[str, BenchmarkFunc] = {}


def benchmark(name: str) -> Callable[[BenchmarkFunc], BenchmarkFunc]:
    """Register a benchmark; ``python -m bench`` imports every ``bench/bench_*.py`` module."""

    def register(func: BenchmarkFunc) -> BenchmarkFunc:
        if name in BENCHMARKS:
            raise ValueError(f"benchmark {name!r} registered twice")
        BENCHMARKS[name] = func
        return func

    return register


def discover() -> dict[str, BenchmarkFunc]:
    """Import every ``bench.bench_*`` module so that its ``@benchmark`` functions register."""
    package_dir = Path(__file__).parent
    for module in pkgutil.iter_modules([str(package_dir)]):
        if module.name.startswith("bench_"):
            importlib.import_module(f"{__package__}.{module.name}")
    return BENCHMARKS


def bracketed_mean(values: Iterable[float]) -> float:
    """The mean of baseline figures taken before, between and after N rounds of the measured load,
    each weighted by the time it stands for: an inner one brackets two rounds, the first and the
    last one round each (the trapezoid rule). A drift of the machine's speed during the run then
    weighs on the baseline as it does on the rounds."""
    taken = list(values)
    if len(taken) < 2:
        raise ValueError("a bracketed mean needs a figure before and after the rounds")
    inner = sum(taken[1:-1])
    return (inner + (taken[0] + taken[-1]) / 2) / (len(taken) - 1)


def figures(values: Iterable[float], spec: str) -> str:
    """Figures of successive loads, in turn: "88 / 79 / 91" with ``spec`` ",.0f"."""
    return " / ".join(format(value, spec) for value in values)


def markdown_table(results: list[Result]) -> str:
    lines = [
        "| benchmark | figure | baseline | ratio | target |",
        "|---|---|---|---|---|",
    ]
    lines += [_markdown_row(result) for result in results]
    return "\n".join(lines)


def _markdown_row(result: Result) -> str:
    figure = f"{result.figure:,.0f} {result.unit}"
    if result.detail:
        figure += f" ({result.detail})"
    baseline = "—"
    if result.baseline is not None:
        baseline = f"{result.baseline:,.0f} {result.unit}"
        if result.baseline_name:
            baseline += f" ({result.baseline_name})"
    ratio = "—" if result.ratio is None else f"{result.ratio:.2f}"
    return f"| {result.benchmark} | {figure} | {baseline} | {ratio} | {result.target or '—'} |"


# --- wrk ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WrkReport:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx_3xx: int = 0
    socket_errors: int = 0

    @property
    def latency(self) -> str:
        return f"p50 {self.p50_ms:.2f} ms, p99 {self.p99_ms:.2f} ms"


_TIME_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_PERCENTILE = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
_REQUESTS_PER_S = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_REQUESTS = re.compile(r"^\s*(\d+) requests in ", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


def parse_wrk(output: str) -> WrkReport:
    """Read the figures out of ``wrk --latency`` output; raise ValueError when one is missing."""
    percentiles = {
        match[1]: float(match[2]) * _TIME_UNITS_MS[match[3]]
        for match in _PERCENTILE.finditer(output)
    }
    rate = _REQUESTS_PER_S.search(output)
    count = _REQUESTS.search(output)
    if rate is None or count is None or set(percentiles) != {"50", "99"}:
        raise ValueError(f"not a wrk --latency report:\n{output}")
    non_2xx = _NON_2XX.search(output)
    errors = _SOCKET_ERRORS.search(output)
    return WrkReport(
        requests_per_s=float(rate[1]),
        p50_ms=percentiles["50"],
        p99_ms=percentiles["99"],
        requests=int(count[1]),
        non_2xx_3xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
    )


def wrk_command(
    url: str, *, connections: int, duration: float, script: Path | None = None
) -> list[str]:
    _require_loopback(url)
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--latency",
    ]
    if script is not None:
        command += ["-s", str(script)]
    return [*command, url]


def run_wrk(
    url: str,
    *,
    connections: int = DEFAULT_CONNECTIONS,
    duration: float = DEFAULT_DURATION_S,
    script: Path | None = None,
) -> WrkReport:
    """Load ``url`` with one wrk thread for ``duration`` seconds and return its report."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk not found: run `make test` as root or `apt-get install wrk`")
    command = wrk_command(url, connections=connections, duration=duration, script=script)
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=duration + WRK_GRACE_S, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{completed.stderr}{completed.stdout}")
    return parse_wrk(completed.stdout)


def lua_string(text: str) -> str:
    """A Lua string literal for ``text``; quotes, backslashes, non-printables as ``\\ddd``."""
    escaped = (chr(b) if chr(b) in _LUA_PLAIN else f"\\{b:03d}" for b in text.encode())
    return '"' + "".join(escaped) + '"'


_LUA_PLAIN = frozenset(string.ascii_letters + string.digits + " !#$%&'()*+,-./:;<=>?@[]^_`{|}~")


def write_wrk_script(
    path: Path,
    *,
    method: str = "POST",
    body: str = "",
    headers: Mapping[str, str] | None = None,
) -> Path:
    """Write a wrk Lua script that sends every request with this method, body and headers."""
    lines = [f"wrk.method = {lua_string(method)}"]
    if body:
        lines.append(f"wrk.body = {lua_string(body)}")
    for name, value in (headers or {}).items():
        lines.append(f"wrk.headers[{lua_string(name)}] = {lua_string(value)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _require_loopback(url: str) -> None:
    # Loads must never leave this machine.
    host = re.sub(r"^https?://", "", url).split("/", 1)[0].rsplit(":", 1)[0]
    if host not in {"127.0.0.1", "localhost", "[::1]"}:
        raise ValueError(f"refusing to load {url}: benchmarks only target 127.0.0.1")


# --- the server under test, in a subprocess ---------------------------------------------------


class ServerProcess:
    """Run ``module:factory`` under uvicorn in a child process, on a pre-bound 127.0.0.1 port.

    The parent binds port 0 and hands the listening socket to the child, so the port is known at
    once and nothing can take it in between. ``env`` is added to this process's environment.
    """

    def __init__(
        self, factory: str, *, env: Mapping[str, str] | None = None, ready_path: str = "/"
    ) -> None:
        self.factory = factory
        self.env = dict(env or {})
        self.ready_path = ready_path
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

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
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 -- closed in stop()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((HOST, 0))
            sock.listen(1024)
            self.port = sock.getsockname()[1]
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__, "serve", self.factory, str(sock.fileno())],
                pass_fds=[sock.fileno()],
                env=self._child_env(),
                stdout=self._log,
                stderr=subprocess.STDOUT,
            )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(SERVER_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used so far (Linux ``/proc``).

        Per request, it tells two servers apart even when other work on the machine skews their
        wall-clock rates.
        """
        if self._process is None:
            raise RuntimeError(f"{self.factory} is not running")
        # Fields 14 and 15 of /proc/PID/stat, counted after the ")" that ends the command name.
        fields = Path(f"/proc/{self._process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log(self) -> str:
        """What the server printed so far (uvicorn logs warnings and errors only)."""
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def _child_env(self) -> dict[str, str]:
        # The child runs `python -m bench.harness`: make the repository importable from any cwd.
        path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
        return {**os.environ, "PYTHONPATH": path, **self.env}

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while not self._answers():
            if self._process is None or self._process.poll() is not None:
                raise RuntimeError(f"{self.factory} exited during start-up:\n{self.log()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.factory} not ready after {SERVER_START_TIMEOUT_S} s")
            time.sleep(0.05)

    def _answers(self) -> bool:
        # Any HTTP answer, even a 404, means the app has finished starting.
        connection = http.client.HTTPConnection(HOST, self.port, timeout=2.0)
        try:
            connection.request("GET", self.ready_path)
            connection.getresponse().read()
            return True
        except OSError:
            return False
        finally:
            connection.close()


def _serve(factory: str, fd: int) -> None:
    sock = socket.socket(fileno=fd)
    config = uvicorn.Config(
        factory, factory=True, log_level="warning", access_log=False, ws="none", lifespan="on"
    )
    uvicorn.Server(config).run(sockets=[sock])


def _child_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {__name__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve module:factory on an inherited socket")
    serve.add_argument("factory")
    serve.add_argument("fd", type=int)
    args = parser.parse_args(argv)
    _serve(args.factory, args.fd)


if __name__ == "__main__":
    _child_main(sys.argv[1:])
