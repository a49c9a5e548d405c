"""A file-dataset entry script that says where run() found each file: its path below
the worker's scratch folder (RUNNER_WORKING_DIR), and its content."""

import os


def run(mini_batch):
    scratch = os.environ["RUNNER_WORKING_DIR"]
    out = []
    for path in mini_batch:
        assert os.path.isabs(path) and os.path.isfile(path), path
        with open(path) as handle:
            out.append(f"{os.path.relpath(path, scratch)} {handle.read().strip()}")
    return out
