"""Proves that the harness runs end to end: a bare endpoint, measured against itself."""

from bench.harness import Options, Result, ServerProcess, benchmark, run_wrk


@benchmark("harness-selfcheck")
def harness_selfcheck(options: Options) -> Result:
    with ServerProcess("bench.baseline_apps:bare_app") as server:
        report = run_wrk(
            server.url + "/", connections=options.connections, duration=options.duration
        )
    if report.non_2xx_3xx or report.socket_errors:
        raise RuntimeError(f"bare app answered with errors: {report}")
    return Result(
        benchmark="harness-selfcheck",
        figure=report.requests_per_s,
        baseline=report.requests_per_s,
        baseline_name="itself",
        target="1.00 (by construction)",
        detail=report.latency,
    )
