"""The start-up benchmark (issue 11, item 9): how long the commands take when there is
next to nothing to do, each a fresh process as a user runs it, and what importing the
CLI costs, module by module (`python -X importtime`).

Every case runs --runs times, interleaved (a round of all cases, then the next round),
after two untimed rounds (bytecode caches, page cache); the median is reported.
"""

from __future__ import annotations

import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.common import NOOP, REPO, git_state, runner_at

WARM_UP_ROUNDS = 2
IMPORTTIME_RUNS = 5
TOP = 10

ONE_FILE_SPEC = """\
name: startup
datasets:
  one: {kind: file, path: data}
steps:
  - name: step
    inputs: ['${{ datasets.one }}']
    output: {name: out}
    allow_reuse: false
    parallel_run: {source_directory: code, entry_script: noop.py, mini_batch_size: 1}
"""


@dataclass
class Case:
    key: str
    label: str
    argv: list[str]
    cwd: Path
    # A multiple of `python -c pass` measured in the same run (issue 25): absolute seconds
    # depend on the machine, the interpreter's own start is measured beside them.
    target: float | None
    before: Callable[[], None] | None = None  # called before each run, untimed


def _runner_command() -> list[str]:
    """The `runner` console script beside this interpreter, as a user types it."""
    script = Path(sys.executable).with_name("runner")
    return [str(script)] if script.exists() else [sys.executable, "-m", "runner"]


def _one_file_job(work: Path) -> Path:
    """A spec with one input file and a no-op entry script."""
    job = work / "startup-job"
    shutil.rmtree(job, ignore_errors=True)
    (job / "data").mkdir(parents=True)
    (job / "data" / "0.png").write_bytes(b"x")
    (job / "code").mkdir()
    shutil.copy(NOOP, job / "code" / "noop.py")
    (job / "spec.yaml").write_text(ONE_FILE_SPEC)
    return job


def _cases(work: Path, source: Path) -> list[Case]:
    runner = _runner_command()
    job = _one_file_job(work)

    def fresh() -> None:  # each run a first run
        shutil.rmtree(job / ".runner", ignore_errors=True)

    return [
        Case("job", "`runner apply` of a one-file no-op job", [*runner, "apply", "spec.yaml"], job, 8, fresh),
        Case("help", "`runner --help`", [*runner, "--help"], job, 4),
        # --no-files: the example's data and models are made by `runner example`, not kept
        Case("validate", "`runner validate specs/mnist.yaml`", [*runner, "validate", "--no-files",
                                                                "specs/mnist.yaml"], source, 4),
        Case("import", '`python -c "import runner.cli"`', [sys.executable, "-c", "import runner.cli"], job, None),
        # What any command that reads a spec imports, whoever writes it: a floor under
        # `validate` and `apply` above the interpreter's (issue 25's targets sit below it).
        Case("libraries", '`python -c "import click, yaml, jinja2, pydantic"` (the libraries a spec is read with)',
             [sys.executable, "-c", "import click, yaml, jinja2, pydantic"], job, None),
        Case("basemodel", '`python -c "from pydantic import BaseModel"`',
             [sys.executable, "-c", "from pydantic import BaseModel"], job, None),
        Case("python", "`python -c pass` (the interpreter alone: the floor)", [sys.executable, "-c", "pass"],
             job, None),
    ]


def _timed(case: Case, env: dict[str, str]) -> float:
    if case.before:
        case.before()
    started = time.perf_counter()
    done = subprocess.run(case.argv, cwd=case.cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(case.argv)} exited {done.returncode}:\n{done.stderr}")
    return wall


def _job_phases(job: Path) -> dict[str, float]:
    """Where the engine says a one-file run's time went (empty if its run folder changed shape)."""
    try:
        step = next((job / ".runner" / "runs").iterdir()) / "step"
        return {"plan_seconds": json.loads((step / "step.json").read_text())["partition_seconds"],
                "run_phase_seconds": json.loads((step / "progress.json").read_text())["elapsed_seconds"]}
    except (OSError, StopIteration, KeyError, ValueError):
        return {}


def _measure(cases: list[Case], env: dict[str, str], runs: int) -> dict[str, Any]:
    walls: dict[str, list[float]] = {case.key: [] for case in cases}
    phases: list[dict[str, float]] = []
    for round_ in range(WARM_UP_ROUNDS + runs):
        for case in cases:
            wall = _timed(case, env)
            if round_ >= WARM_UP_ROUNDS:
                walls[case.key].append(wall)
                if case.key == "job":
                    phases.append(_job_phases(case.cwd))
    rows = {}
    floor = statistics.median(walls["python"])
    for case in cases:
        times = walls[case.key]
        median = statistics.median(times)
        rows[case.key] = {"label": case.label, "command": " ".join(case.argv), "runs": len(times),
                          "median_seconds": round(median, 3), "min_seconds": round(min(times), 3),
                          "max_seconds": round(max(times), 3), "x_interpreter": round(median / floor, 1),
                          "target_x_interpreter": case.target,
                          "meets_target": None if case.target is None else median <= case.target * floor}
    phases = [p for p in phases if p]
    if phases:
        rows["job"]["engine_phases_median"] = {key: round(statistics.median(p[key] for p in phases), 3)
                                               for key in phases[0]}
    return rows


def _importtime_lines(env: dict[str, str], cwd: Path) -> list[tuple[str, int, int, int]]:
    """(module, depth, self us, cumulative us) for each line of one `-X importtime` run."""
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", "import runner.cli"], env=env, cwd=cwd,
                         capture_output=True, text=True).stderr
    lines = []
    for line in err.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        own, cumulative, raw = line.removeprefix("import time:").split("|")
        name = raw.strip()
        lines.append((name, (len(raw) - len(raw.lstrip()) - 1) // 2, int(own), int(cumulative)))
    return lines


def _parents(lines: list[tuple[str, int, int, int]]) -> dict[str, str]:
    """Who imported each module: the output is post-order, so a module's importer is the
    next line one level up."""
    parent: dict[str, str] = {}
    last_at: dict[int, str] = {}
    for name, depth, _, _ in reversed(lines):
        if depth - 1 in last_at:
            parent[name] = last_at[depth - 1]
        last_at[depth] = name
        for deeper in [d for d in last_at if d > depth]:
            del last_at[deeper]
    return parent


@dataclass
class ModuleTime:
    module: str
    cumulative_ms: float
    self_ms: float
    imported_by: str | None


def importtime(env: dict[str, str], cwd: Path, runs: int = IMPORTTIME_RUNS) -> dict[str, Any]:
    """Per module, the median over `runs` of self and cumulative import time; the top lists.
    `cwd` must not hold another runner/ (`-c` puts it first on sys.path)."""
    _importtime_lines(env, cwd)  # warm-up
    samples: dict[str, list[tuple[int, int]]] = {}
    parent: dict[str, str] = {}
    for _ in range(runs):
        lines = _importtime_lines(env, cwd)
        parent = _parents(lines)
        for name, _, own, cumulative in lines:
            samples.setdefault(name, []).append((own, cumulative))
    modules = [ModuleTime(name, round(statistics.median(c for _, c in s) / 1000, 1),
                          round(statistics.median(o for o, _ in s) / 1000, 1), parent.get(name))
               for name, s in samples.items()]
    by_cumulative = sorted(modules, key=lambda m: -m.cumulative_ms)
    outside = [m for m in by_cumulative if not m.module.startswith("runner")
               and (m.imported_by or "").startswith("runner")]
    return {"runs": runs, "modules": len(modules),
            "total_ms": next((m.cumulative_ms for m in modules if m.module == "runner.cli"), None),
            "top_cumulative": _top(by_cumulative), "top_self": _top(sorted(modules, key=lambda m: -m.self_ms)),
            "top_imported_by_runner": _top(outside)}


def _top(modules: list[ModuleTime]) -> list[dict[str, Any]]:
    return [asdict(m) for m in modules[:TOP]]


def startup(args: Any) -> dict[str, Any]:
    source = (args.source or REPO).resolve()
    env = dict(os.environ)
    if args.source:  # ahead of the editable install's finder
        env["PYTHONPATH"] = os.pathsep.join([str(source), *filter(None, [env.get("PYTHONPATH")])])
    if runner_at(args.work, env) != source:
        raise SystemExit(f"`import runner` finds the package under {runner_at(args.work, env)}, not {source}")
    compileall.compile_dir(str(source / "runner"), quiet=1)  # --source too: bytecode, as installed
    return {"runner_source": str(source), "runner_version": args.note or git_state(source),
            "runs": args.runs, "cases": _measure(_cases(args.work, source), env, args.runs),
            "importtime": importtime(env, args.work)}


def _module_table(title: str, modules: list[dict[str, Any]]) -> list[str]:
    lines = ["", title, "", "| module | cumulative ms | self ms | imported by |", "|---|---|---|---|"]
    lines += [f"| `{m['module']}` | {m['cumulative_ms']} | {m['self_ms']} | `{m['imported_by'] or '-'}` |"
              for m in modules]
    return lines


def markdown(result: dict[str, Any]) -> list[str]:
    lines = [f"runner package from `{result['runner_source']}`; median of {result['runs']} runs of each command, "
             f"interleaved, after {WARM_UP_ROUNDS} untimed rounds.", "",
             "| command | median s | min s | max s | x `python -c pass` | target | meets target |",
             "|---|---|---|---|---|---|---|"]
    for row in result["cases"].values():
        target = row["target_x_interpreter"]
        meets = "-" if row["meets_target"] is None else ("yes" if row["meets_target"] else "no")
        lines.append(f"| {row['label']} | {row['median_seconds']} | {row['min_seconds']} | {row['max_seconds']} | "
                     f"{row['x_interpreter']} | {f'<= {target}x' if target else '-'} | {meets} |")
    phases = result["cases"]["job"].get("engine_phases_median")
    if phases:
        lines += ["", f"Of the one-file job's wall time, the engine reports (medians) listing "
                      f"{phases['plan_seconds']} s and the run phase (workers started, `init()`, `run()`, "
                      f"stopped) {phases['run_phase_seconds']} s; the rest is the interpreter, imports, "
                      "loading the spec, the run folder and the reports."]
    timing = result["importtime"]
    lines += ["", "## `python -X importtime -c \"import runner.cli\"`", "",
              f"Medians of {timing['runs']} runs; {timing['modules']} modules, `runner.cli` "
              f"{timing['total_ms']} ms cumulative."]
    lines += _module_table(f"Top {TOP} by cumulative time (a module and all it imports):", timing["top_cumulative"])
    lines += _module_table(f"Top {TOP} by self time:", timing["top_self"])
    lines += _module_table(f"Top {TOP} modules outside runner that runner's modules import directly "
                           "(where trimming pays):", timing["top_imported_by_runner"])
    return lines
