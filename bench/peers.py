"""The peers the engine is measured against, in a module of their own so that spawned
processes can import what they run (a `python -m` main module cannot be)."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

NOOP = Path(__file__).parent / "scripts" / "noop.py"
_RUN: Any = None


def _pool_init() -> None:
    global _RUN  # noqa: PLW0603 - the worker's entry script, imported once per process
    import importlib.util

    spec = importlib.util.spec_from_file_location("noop", NOOP)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.init()
    _RUN = module.run


def _pool_call(batch: list[str]) -> list[str]:
    return [str(x) for x in _RUN(batch)]


def pool_pass(batches: list[list[str]], workers: int, chunksize: int) -> float:
    """One pass of `batches` through a spawned Pool (start-up included): seconds."""
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(workers, initializer=_pool_init) as pool, \
            open(os.devnull, "w") as out:
        for rows in pool.imap_unordered(_pool_call, batches, chunksize=chunksize):
            out.write("".join(f"{r}\n" for r in rows))
    return time.perf_counter() - started


def heuristic_chunksize(batches: int, workers: int) -> int:
    """What Pool.map picks when not told: len / (4 * processes), rounded up."""
    return max(1, -(-batches // (4 * workers)))


def sweep_chunksize(batches: list[list[str]], workers: int) -> dict[int, float]:
    """A competent user's tuning, done once: mini-batches/s at chunksize 1, 10, 100, 1000
    and Pool.map's own heuristic (those not above the number of mini-batches)."""
    sizes = sorted({c for c in (1, 10, 100, 1000) if c <= len(batches)}
                   | {heuristic_chunksize(len(batches), workers)})
    return {c: round(len(batches) / pool_pass(batches, workers, c), 1) for c in sizes}


def run_pool(data: Path, size: int, workers: int, chunksize: int = 1) -> dict[str, Any]:
    """The same mini-batches through multiprocessing.Pool (listing included, output
    written by the parent), as a user without an engine would write it."""
    started = time.perf_counter()
    files = sorted(str(p) for p in data.rglob("*.png"))
    batches = [files[i:i + size] for i in range(0, len(files), size)]
    listed = time.perf_counter()
    seconds = pool_pass(batches, workers, chunksize)
    end = time.perf_counter()
    return {"mini_batches": len(batches), "chunksize": chunksize, "listing_seconds": round(listed - started, 2),
            "run_seconds": round(seconds, 2), "mini_batches_per_second": round(len(batches) / seconds, 1),
            "in_process_seconds": round(end - started, 2)}


# --- the entry script, imported as a user's process would -----------------------------

def load_entry(script: Path, argv: list[str]) -> Any:
    """Import an entry script with its arguments in sys.argv and call init()."""
    import importlib.util
    import sys

    sys.argv = [str(script), *argv]
    sys.path.insert(0, str(script.parent))
    spec = importlib.util.spec_from_file_location(script.stem, script)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.init()
    return module


def _loop_process(script: str, argv: list[str], batches: list[list[str]], out_path: str) -> None:
    module = load_entry(Path(script), argv)
    with open(out_path, "w") as out:
        for batch in batches:
            out.write("".join(f"{r}\n" for r in module.run(batch)))
    _leave_as_a_worker()


def _leave_as_a_worker() -> None:
    """Rows written and flushed (closed), then out as the runner's workers leave
    (runner/local/worker/main.py `_leave`): the script's atexit functions, the standard
    streams and logging flushed, then os._exit, without the interpreter's and
    TensorFlow's teardown, which the runner never waits for either. A limit that paid for
    a teardown the runner skips could be beaten."""
    import atexit
    import logging
    import sys

    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(0)


def run_plain_loop(script: Path, argv: list[str], batches: list[list[str]], workers: int,
                   out_dir: Path) -> dict[str, Any]:
    """The limit: `workers` processes, each importing the script, calling init() once and
    then run() over its share of the same mini-batches, writing its rows, and leaving with
    os._exit as the runner's workers do; no engine, no ledger, no retries."""
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=_loop_process,
                             args=(str(script), argv, batches[i::workers], str(out_dir / f"part-{i}.txt")))
             for i in range(workers)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
        assert proc.exitcode == 0, "a plain-loop process failed"
    end = time.perf_counter()
    rows = sum(1 for i in range(workers) for _ in open(out_dir / f"part-{i}.txt"))
    return {"rows": rows, "end_to_end_seconds": round(end - started, 2)}


class _RayScorer:
    """A Ray Data actor: the entry script imported and init() called once per actor."""

    def __init__(self, script: str, argv: list[str]) -> None:
        self.module = load_entry(Path(script), argv)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {"row": [str(r) for r in self.module.run(list(batch["path"]))]}


def run_ray(script: Path, argv: list[str], files: list[str], size: int, workers: int, address: str | None = None,
            out_path: str = os.devnull) -> dict[str, Any]:
    """Ray Data: map_batches with an actor pool of `workers`, batch_size = mini_batch_size,
    rows consumed by the driver (written to `out_path`), as its batch inference guide does.
    `address`: join that cluster (the actors go where it has room) rather than start one
    of `workers` CPUs here."""
    import ray

    started = time.perf_counter()
    if address:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    else:
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        ready = time.perf_counter()
        dataset = ray.data.from_items([{"path": f} for f in files], override_num_blocks=max(1, workers * 4))
        scored = dataset.map_batches(_RayScorer, fn_constructor_args=(str(script), argv), batch_size=size,
                                     concurrency=workers, batch_format="numpy")
        rows, first = 0, None
        with open(out_path, "w") as out:
            for batch in scored.iter_batches(batch_size=None, batch_format="numpy"):
                first = first or time.time()
                out.write("".join(f"{r}\n" for r in batch["row"]))
                rows += len(batch["row"])
        end = time.perf_counter()
        last = time.time()
    finally:
        ray.shutdown()
    batches = (len(files) + size - 1) // size
    return {"rows": rows, "mini_batches": batches, "ray_init_seconds": round(ready - started, 2),
            "run_seconds": round(end - ready, 2), "in_process_seconds": round(end - started, 2),
            "mini_batches_per_second": round(batches / (end - ready), 1),
            "first_rows_at": first, "last_rows_at": last}  # time.time(): for a caller's timeline
