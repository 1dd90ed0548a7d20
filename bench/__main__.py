"""``python -m bench [--only NAME] [--duration S] [--connections N]``: run, then tabulate."""

import argparse
import sys

from bench.harness import (
    DEFAULT_CONNECTIONS,
    DEFAULT_DURATION_S,
    Options,
    Result,
    discover,
    markdown_table,
)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--only", action="append", metavar="NAME", help="run only NAME (repeatable)"
    )
    parser.add_argument("--duration", type=float, default=DEFAULT_DURATION_S, metavar="S")
    parser.add_argument("--connections", type=int, default=DEFAULT_CONNECTIONS, metavar="N")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    registry = discover()
    if args.list:
        print("\n".join(sorted(registry)))
        return 0
    names = args.only or sorted(registry)
    unknown = sorted(set(names) - set(registry))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(sorted(registry))}")
        return 2
    if not 0 < args.duration <= 60:
        print("--duration must be in (0, 60] seconds")
        return 2
    if not 1 <= args.connections <= 1024:
        print("--connections must be in [1, 1024]")
        return 2
    options = Options(duration=args.duration, connections=args.connections)
    results: list[Result] = []
    for name in names:
        print(f"running {name} ({options.duration:g} s)...", file=sys.stderr, flush=True)
        outcome = registry[name](options)
        results += outcome if isinstance(outcome, list) else [outcome]
    print(markdown_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
