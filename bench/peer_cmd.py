"""A peer as a command of its own, so that its end-to-end time counts what a user's
does: the interpreter's start, its imports (Ray's), listing the inputs, starting the
processes, the run and the output. The parent times the whole command.

    python -m bench.peer_cmd pool DATA --size 1 --workers 2 --chunksize 1
    python -m bench.peer_cmd ray DATA --size 1 --workers 2 [--script S --argv '["--model", "m"]']
                                 [--address HOST:PORT --out FILE]

The last line of stdout is the peer's own figures, as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from bench.common import NOOP, REPO, listing, timed_command


def in_fresh_process(peer: str, data: Path, size: int, workers: int, *options: str) -> dict[str, Any]:
    """Run a peer as a command: its own figures, plus `end_to_end_seconds`, the command's
    wall, and `cpu_seconds`, its CPU and that of the processes it waited for."""
    wall, cpu, done = timed_command([sys.executable, "-m", "bench.peer_cmd", peer, str(data), "--size", str(size),
                                     "--workers", str(workers), *options], REPO)
    if done.returncode != 0 or not done.stdout.strip():
        raise SystemExit(f"peer {peer} failed:\n{done.stderr[-4000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return {**figures, "end_to_end_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
            "cpu_us_per_mini_batch": round(cpu / figures["mini_batches"] * 1e6, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peer_cmd", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("peer", choices=["pool", "ray"])
    parser.add_argument("data", type=Path)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--chunksize", type=int, default=1, help="pool: imap_unordered's chunksize")
    parser.add_argument("--script", type=Path, default=NOOP, help="ray: the entry script")
    parser.add_argument("--argv", default="[]", help="ray: the entry script's arguments, as a JSON list")
    parser.add_argument("--address", help="ray: join the cluster there rather than start one")
    parser.add_argument("--out", default=os.devnull, help="ray: where the driver writes the rows")
    args = parser.parse_args()
    if args.peer == "pool":
        from bench.peers import run_pool

        result = run_pool(args.data, args.size, args.workers, args.chunksize)
    else:
        from bench.peers import run_ray

        result = run_ray(args.script, json.loads(args.argv), listing(args.data), args.size, args.workers,
                         args.address, args.out)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
