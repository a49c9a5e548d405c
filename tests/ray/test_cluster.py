"""What joining a cluster changes in the driver's process."""

from __future__ import annotations

import pytest

from runner.ray.cluster import _notices_to_stderr

ray = pytest.importorskip("ray")


def test_the_clusters_notices_go_to_stderr_not_to_the_run_id_on_stdout(capsys, monkeypatch):
    worker = ray._private.worker
    monkeypatch.setattr(worker, "print_to_stdstream", worker.print_to_stdstream)  # restored after the test
    _notices_to_stderr(ray)
    _notices_to_stderr(ray)  # once is enough: joined again, it is not wrapped twice
    # As Ray's error listener calls it for "The node ... has been marked dead".
    worker.print_to_stdstream({"lines": ["The node with node id: 1 has been marked dead"], "pid": "raylet",
                               "is_err": False, "ip": "127.0.0.1"}, ignore_prefix=False)
    out, err = capsys.readouterr()
    assert out == "" and "has been marked dead" in err
