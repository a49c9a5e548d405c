"""A test entry script whose faults are chosen by the environment (the spec's
environment_variables): FAULT=<mode>, FAULT_ON=<file name>, FAULT_ONCE=1 (fault only the
first time, remembered by a marker file in FAULT_MARKERS), INIT_FAULT=raise|exit."""

import argparse
import logging
import os
import signal
import subprocess
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--factor", type=int, default=1)
args, _unknown = parser.parse_known_args()
FAULT = os.environ.get("FAULT", "")
FAULT_ON = os.environ.get("FAULT_ON", "")
SLEEP = float(os.environ.get("SLEEP", "0"))
log = logging.getLogger("faulty")


def _first_time(tag):
    """True once per tag across all processes (O_EXCL marker files)."""
    if not os.environ.get("FAULT_ONCE"):
        return True
    try:
        os.close(os.open(os.path.join(os.environ["FAULT_MARKERS"], tag), os.O_CREAT | os.O_EXCL))
        return True
    except FileExistsError:
        return False


def init():
    print(f"init in {os.getpid()} argv={sys.argv[1:]}")
    log.info("init done")
    mode = os.environ.get("INIT_FAULT")
    if mode and _first_time("init"):
        if mode == "raise":
            raise RuntimeError("model file is corrupt")
        if mode == "exit":
            os._exit(3)
        if mode == "hang":
            time.sleep(300)


def _fault(name):
    if FAULT and name == FAULT_ON and _first_time(name):
        if FAULT == "raise":
            raise ValueError(f"cannot score {name}")
        if FAULT == "exit":
            os._exit(7)
        if FAULT == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if FAULT == "hang":
            # A child that would outlive a careless kill: the whole tree must go.
            child = subprocess.Popen(["sleep", "300"])
            with open(os.path.join(os.environ["FAULT_MARKERS"], "child.pid"), "w") as handle:
                handle.write(str(child.pid))
            time.sleep(300)
        return FAULT
    return None


def run(mini_batch):
    out = []
    for path in mini_batch:
        name = os.path.basename(path)
        fault = _fault(name)
        if fault == "none":
            return None
        if fault == "short":
            continue
        with open(path) as handle:
            value = int(handle.read())  # a corrupt file raises here
        if SLEEP:
            time.sleep(SLEEP)
        out.append(f"{name}: {value * args.factor}")
    return out
