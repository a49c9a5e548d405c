"""A test entry script that says which GPU its worker sees: each row is
`<file>: <worker> <CUDA_VISIBLE_DEVICES or ->`. A worker's first mini-batch waits until
WORKERS workers have started (markers in FAULT_MARKERS), so every worker gets work."""

import os
import time

MARKERS = os.environ["FAULT_MARKERS"]
AGENT = os.environ["RUNNER_AGENT_NAME"]
_waited = False


def init():
    with open(os.path.join(MARKERS, f"started-{AGENT}"), "w"):
        pass


def run(mini_batch):
    global _waited
    deadline = time.monotonic() + 60  # a test fails, never hangs
    while not _waited and time.monotonic() < deadline:
        if sum(name.startswith("started-") for name in os.listdir(MARKERS)) >= int(os.environ["WORKERS"]):
            break
        time.sleep(0.02)
    _waited = True
    seen = os.environ.get("CUDA_VISIBLE_DEVICES", "-")
    return [f"{os.path.basename(path)}: {AGENT} {seen}" for path in mini_batch]
