"""A test entry script with a bit of everything a report shows: MIXED_FAIL's file always
raises, MIXED_ONCE's raises the first time only (a retry), MIXED_HANG's hangs (a timeout),
MIXED_SLOW's takes longer; markers in FAULT_MARKERS remember the first times."""

import os
import sys
import time


def _first_time(tag):
    try:
        os.close(os.open(os.path.join(os.environ["FAULT_MARKERS"], tag), os.O_CREAT | os.O_EXCL))
        return True
    except FileExistsError:
        return False


def init():
    pass


def run(mini_batch):
    out = []
    for path in mini_batch:
        name = os.path.basename(path)
        if name == os.environ.get("MIXED_FAIL"):
            print(f"giving up on {name}", file=sys.stderr)
            raise ValueError(f"cannot score <{name}>")
        if name == os.environ.get("MIXED_ONCE") and _first_time(name):
            raise RuntimeError(f"flaky on {name}")
        if name == os.environ.get("MIXED_HANG"):
            time.sleep(300)
        if name == os.environ.get("MIXED_SLOW"):
            time.sleep(0.4)
        out.append(f"{name}: ok")
    return out
