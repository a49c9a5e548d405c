"""A test entry script that says which GPU its worker sees: each row is
`<file>: <worker> <CUDA_VISIBLE_DEVICES or ->`. A worker's first run() waits until
WORKERS workers are in run() (markers in FAULT_MARKERS), so every worker gets work
however fast the first one is."""

import os
import time

MARKERS = os.environ["FAULT_MARKERS"]
AGENT = os.environ["RUNNER_AGENT_NAME"]
_waited = False


def run(mini_batch):
    global _waited
    if not _waited:
        with open(os.path.join(MARKERS, f"running-{AGENT}"), "w"):
            pass
        deadline = time.monotonic() + 60  # a test fails, never hangs
        while time.monotonic() < deadline:
            if sum(name.startswith("running-") for name in os.listdir(MARKERS)) >= int(os.environ["WORKERS"]):
                break
            time.sleep(0.02)
        _waited = True
    seen = os.environ.get("CUDA_VISIBLE_DEVICES", "-")
    return [f"{os.path.basename(path)}: {AGENT} {seen}" for path in mini_batch]
