"""What `runner plan` counts of each input (runner/inputs/work.py): files, bytes,
mini-batches and rows, from a listing that keeps nothing per file."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from runner.inputs.checks import plan_here
from runner.inputs.work import StepWork, estimate
from runner.spec.load import load_spec

SPEC = """
name: counted
datasets:
  images: {{kind: file, path: data/images/}}
  tables: {{kind: tabular, path: data/tables/, header: true}}
  parts: {{kind: file, path: data/parts/, partition_format: "{{region}}/{{day}}/*.png"}}
steps:
  - name: step
    inputs: ["${{{{ datasets.{dataset} }}}}"]
    output: {{name: out}}
    parallel_run: {{entry_script: score.py, source_directory: code, {batching}}}
"""


def _work(write, dataset: str, size: str = "", keys: str = "") -> StepWork:
    write("code/score.py", "def init():\n    pass\n\n\ndef run(batch):\n    return batch\n")
    spec = write("s.yaml", SPEC.format(dataset=dataset, batching=f"partition_keys: {keys}" if keys else f"mini_batch_size: {size}"))
    [work] = estimate(plan_here(load_spec(spec, environ={}), target="local", processes_per_node=None))
    return work


def test_files_and_bytes_and_mini_batches(write, tmp_path: Path) -> None:
    for i in range(7):
        write(f"data/images/sub/{i}.png", "x" * i)
    work = _work(write, "images", "3")
    assert (work.files, work.bytes, work.mini_batches, work.rows) == (7, sum(range(7)), 3, None)


def test_tables_count_parquet_rows_exactly_and_estimate_text_rows(write, tmp_path: Path) -> None:
    write("data/tables/a.csv", "x,y\n" + "".join(f"{i},{i}\n" for i in range(100)))
    pq.write_table(pa.table({"x": list(range(250))}), tmp_path / "data/tables/b.parquet")
    work = _work(write, "tables", "1KB")
    assert work.files == 2 and work.rows is not None and not work.inputs[0].rows_exact
    assert work.rows == 350  # 250 exact; 100 from the row length (its 101 lines, less the header)
    (tmp_path / "data/tables/a.csv").unlink()
    work = _work(write, "tables", "1KB")
    assert (work.rows, work.inputs[0].rows_exact) == (250, True)


def test_a_parquet_file_pyarrow_cannot_read_leaves_rows_unknown(write, tmp_path: Path) -> None:
    write("data/tables/c.parquet", "not parquet")
    pq.write_table(pa.table({"x": [1, 2]}), tmp_path / "data/tables/b.parquet")
    work = _work(write, "tables", "1KB")
    assert work.files == 2 and work.rows is None and not work.inputs[0].rows_exact


def test_partitions_are_counted_from_the_paths(write) -> None:
    for region, day, n in (("eu", "1", 3), ("eu", "2", 1), ("us", "1", 2)):
        for i in range(n):
            write(f"data/parts/{region}/{day}/{i}.png", "x")
    write("data/parts/stray.png", "x")  # outside the layout: counted as a file, in no partition
    work = _work(write, "parts", keys="[region, day]")
    assert (work.files, work.mini_batches) == (7, 3)


def test_counting_keeps_nothing_per_file(write, tmp_path: Path) -> None:
    """Counting 20,000 files takes no more memory than counting 2,000, in folders of
    2,000 (a folder's entries are sorted whole; a list of every file's stat result took
    ~1 KB a file more: 18 MB here)."""
    folder = tmp_path / "data" / "images"
    (folder / "0").mkdir(parents=True)
    (folder / "0" / "first.png").touch()
    _work(write, "images", "10")  # warm: what the first plan imports is not counted
    peaks = []
    for count in (2_000, 20_000):
        for i in range(count):
            (folder / str(i // 2_000)).mkdir(exist_ok=True)
            (folder / str(i // 2_000) / f"{i:05d}.png").touch()
        tracemalloc.start()
        try:
            work = _work(write, "images", "10")
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        assert work.files == count + 1
    assert peaks[1] < peaks[0] + 1_000_000, peaks
