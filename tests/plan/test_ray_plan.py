"""`runner plan --target ray` (runner/plan/ray.py and its views in runner/render.py and
runner/review/views.py): the cluster, each step's actors and their placement group, what
is shipped to the nodes, what every node must read itself, in text, markdown and JSON."""

from __future__ import annotations

import json
import os

import pytest

from runner.cli.specs import _plan_view
from runner.inputs.checks import plan_here
from runner.inputs.work import estimate
from runner.plan.plan import Plan
from runner.plan.ray import cluster_text, ray_layout
from runner.render import plan_json, plan_text, ray_warnings
from runner.review.views import plan_markdown
from runner.spec.load import load_spec

SPEC = """
name: score
datasets:
  images: {kind: file, path: data/images/}
  remote: {kind: file, path: "https://example.org/data/one.png"}
models:
  clf: {path: models/clf}
target: ray
ray:
  address: "{{ env.RAY_AT | default('local') }}"
  cpus_per_worker: 2
  gpus_per_worker: 0.5
  pip: ["pillow>=10", "{{ env.PIP_TOKEN | default('tqdm') }}"]
steps:
  - name: first
    inputs: ["${{ datasets.images }}"]
    side_inputs: ["${{ datasets.remote }}"]
    output: {name: scores}
    arguments: ["--model", "${{ models.clf }}"]
    parallel_run: {entry_script: score.py, source_directory: code, node_count: 3, process_count_per_node: 2}
  - name: second
    inputs: ["${{ steps.first.outputs.scores }}"]
    output: {name: total}
    parallel_run: {entry_script: sum.py, source_directory: code}
"""


def _plan(write, environ: dict[str, str] | None = None, target: str = "ray") -> Plan:
    return plan_here(load_spec(write("specs/s.yaml", SPEC), environ=environ or {}), target=target,
                     processes_per_node=None)


def test_the_layout_says_cluster_actors_placement_shipped_and_reads(write) -> None:
    plan = _plan(write, {"RAY_AT": "10.0.0.5:6379"})
    layout = ray_layout(plan)
    assert layout is not None
    assert layout.cluster == "the cluster whose head (GCS) is at 10.0.0.5:6379"
    first, second = layout.steps
    assert (first.actors, first.nodes, first.per_node, first.bundle) == (6, 3, 2, {"CPU": 4.0, "GPU": 1.0})
    assert (second.actors, second.per_node) == (1, 1)  # process_count_per_node unset: one, as the engine runs it
    code = os.path.join(os.getcwd(), "specs", "code")
    assert layout.shipped == [f"the code snapshot of {code} (a zip in Ray's object store, unpacked once per node)",
                              "the runner package (a zip in Ray's object store), used where a node does not "
                              "import this very runner itself (each actor checks as it starts)",
                              "pip requirements, installed by Ray for the actors (runtime_env pip): pillow>=10, tqdm"]
    assert [(r.what, r.location) for r in layout.local_paths] == [
        ("datasets.images (step first)", os.path.join(os.getcwd(), "specs", "data", "images")),
        ("models.clf (steps first, second)", os.path.join(os.getcwd(), "specs", "models", "clf"))]
    assert [(r.what, r.location) for r in layout.object_storage] == [
        ("datasets.remote (step first)", "https://example.org/data/one.png")]
    assert layout.run_folder == ["output 'scores' of step 'first', read by second"]


@pytest.mark.parametrize(("address", "words"), [
    ("local", "a cluster started on this machine for the run"),
    ("auto", "the cluster this machine belongs to (RAY_ADDRESS, or the one `ray start` started here)"),
    ("ray://head:10001", "the cluster behind Ray Client at head:10001"),
    ("head.example:6379", "the cluster whose head (GCS) is at head.example:6379")])
def test_each_address_in_words(address: str, words: str) -> None:
    assert cluster_text(address) == words


def test_another_target_has_no_ray_layout(write) -> None:
    plan = _plan(write, target="local")
    assert plan.ray is None and ray_layout(plan) is None
    assert "Ray:" not in plan_text(plan) and json.loads(plan_json(plan))["ray"] is None


def test_plan_text_has_the_ray_section(write, monkeypatch: pytest.MonkeyPatch) -> None:
    text = plan_text(_plan(write, {"RAY_AT": "ray://head:10001"}))
    section = text[text.index("Ray: "):text.index("Resolved spec")]
    assert "Ray: the cluster behind Ray Client at head:10001 (ray.address ray://head:10001)" in section
    assert "actors         step first: 6 = 3 node(s) x 2 actor(s), each 2 CPU and 0.5 GPU" in section
    assert "placement      a placement group of 3 bundle(s) of {CPU 4, GPU 1}, one per node (SPREAD)" in section
    assert "shipped        the runner package (a zip in Ray's object store)" in section
    assert f"node reads     models.clf (steps first, second): {os.getcwd()}/specs/models/clf" in section
    assert "each must hold the same data at the same path on every node" in section
    assert "store reads    datasets.remote (step first): https://example.org/data/one.png" in section
    assert "run folder     output 'scores' of step 'first', read by second" in section
    assert "warning" not in section
    assert "gpus           node0" not in text  # the local engine's assignment: Ray assigns GPUs to actors


def test_a_local_cluster_asking_for_more_than_this_machine_has_is_warned(write, monkeypatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("RUNNER_GPUS", "none")
    plan = _plan(write)  # address local; step first: 3 nodes x 2 actors x 2 CPUs and 0.5 GPU
    layout = ray_layout(plan)
    assert layout is not None
    assert ray_warnings(layout, cpus=64) == [
        "ray.gpus_per_worker 0.5 asks for GPUs, and this machine lists none (nvidia-smi -L, RUNNER_GPUS, "
        "CUDA_VISIBLE_DEVICES): the cluster `local` starts would have none to give"]
    assert "warning        ray.gpus_per_worker 0.5 asks for GPUs" in plan_text(plan)
    assert json.loads(plan_json(plan))["ray"]["warnings"][0].startswith("ray.gpus_per_worker 0.5 asks for GPUs")
    assert "(every node of a cluster started here is this machine)" in plan_text(plan)
    monkeypatch.setenv("RUNNER_GPUS", "0,1")
    assert ray_warnings(layout, cpus=8) == [
        "step first's actors ask the cluster `local` starts for 12 CPUs and this machine has 8; 3 GPUs and this "
        "machine has 2: they would wait for room, then fail the step"]
    monkeypatch.setenv("RUNNER_GPUS", "0,1,2")
    assert ray_warnings(layout, cpus=12) == []
    on_a_cluster = ray_layout(_plan(write, {"RAY_AT": "auto"}))
    assert on_a_cluster is not None and ray_warnings(on_a_cluster, cpus=1) == []  # the cluster's nodes decide


def test_plan_json_and_markdown_carry_the_same(write) -> None:
    plan = _plan(write, {"RAY_AT": "auto"})
    data = json.loads(plan_json(plan))["ray"]
    assert data["address"] == "auto" and data["strategy"] == "SPREAD"
    assert data["steps"][0] == {"step": "first", "nodes": 3, "per_node": 2, "actors": 6,
                                "bundle": {"CPU": 4.0, "GPU": 1.0}, "code": "specs/code"}
    assert data["object_storage"][0]["location"] == "https://example.org/data/one.png"
    markdown = plan_markdown(plan, estimate(plan), None)
    assert "Ray: the cluster this machine belongs to" in markdown
    assert "actors         step first: 6 = 3 node(s) x 2 actor(s)" in markdown


def test_secrets_stay_hidden_in_every_view(write) -> None:
    token = "git+https://tok3n-value@example.org/pkg.git"
    plan = _plan(write, {"PIP_TOKEN": token})
    assert token in plan.resolved["ray"]["pip"] and plan.ray is not None and token in plan.ray.pip  # for the backend
    for fmt in ("text", "json", "markdown"):  # as `runner plan --format` shows each
        shown = _plan_view(plan, estimate(plan), None, fmt, False)
        assert "tok3n-value" not in shown and "pip requirements" in shown


def test_the_cli_plans_and_validates_for_ray(write) -> None:
    from pathlib import Path

    from tests.local.helpers import cli

    write("specs/s.yaml", SPEC)
    root = Path.cwd()
    shown = cli("plan", "--no-files", "specs/s.yaml", "--target", "ray", cwd=root, env={"RAY_AT": "auto"})
    assert shown.returncode == 0, shown.stderr
    assert "Ray: the cluster this machine belongs to" in shown.stdout and "placement      a placement group" in \
        shown.stdout
    as_json = cli("plan", "--no-files", "specs/s.yaml", "--json", cwd=root, env={"RAY_AT": "auto"})
    assert json.loads(as_json.stdout)["ray"]["steps"][0]["actors"] == 6
    refused = cli("validate", "--no-files", "specs/s.yaml", "--target", "ray", cwd=root, env={"RAY_AT": "head"})
    assert refused.returncode == 2 and "ray.address: a Ray address is `local`" in refused.stdout + refused.stderr
    assert "Traceback" not in refused.stderr
