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


def run_pool(data: Path, size: int, workers: int) -> dict[str, Any]:
    """The same mini-batches through multiprocessing.Pool (listing included, output
    written by the parent), as a user without an engine would write it."""
    started = time.perf_counter()
    files = sorted(str(p) for p in data.rglob("*.png"))
    batches = [files[i:i + size] for i in range(0, len(files), size)]
    listed = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(workers, initializer=_pool_init) as pool, \
            open(os.devnull, "w") as out:
        for rows in pool.imap_unordered(_pool_call, batches, chunksize=1):
            out.write("".join(f"{r}\n" for r in rows))
    end = time.perf_counter()
    return {"mini_batches": len(batches), "run_seconds": round(end - listed, 2),
            "mini_batches_per_second": round(len(batches) / (end - listed), 1),
            "end_to_end_seconds": round(end - started, 2)}


