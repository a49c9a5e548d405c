"""A test entry script whose faults are chosen by the environment (the spec's
environment_variables): FAULT=<mode>, FAULT_ON=<file name>, FAULT_ONCE=1 (fault only the
first time, remembered by a marker file in FAULT_MARKERS), INIT_FAULT=raise|exit.
FAULT_RATE=0.05 faults that share of the files instead of FAULT_ON (chosen by a hash of
the name, so a test knows which; see faulted()), INIT_FAULT_RATE=0.05 fails that share of
init() calls at random. ROW_PAD=N makes each row N characters longer."""

import argparse
import logging
import os
import signal
import subprocess
import sys
import random
import time
import zlib

parser = argparse.ArgumentParser()
parser.add_argument("--factor", type=int, default=1)
args, _unknown = parser.parse_known_args()
FAULT = os.environ.get("FAULT", "")
FAULT_ON = os.environ.get("FAULT_ON", "")
SLEEP = float(os.environ.get("SLEEP", "0"))
RATE = float(os.environ.get("FAULT_RATE", "0"))
PAD = " " + "x" * int(os.environ["ROW_PAD"]) if os.environ.get("ROW_PAD") else ""
log = logging.getLogger("faulty")


def faulted(name, rate):
    """Whether FAULT_RATE picks this file: the same answer in every process and test."""
    return zlib.crc32(name.encode()) % 10000 < rate * 10000


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
    init_rate = float(os.environ.get("INIT_FAULT_RATE", "0"))
    if init_rate and random.random() < init_rate:
        raise RuntimeError("init failed at random")
    if mode and _first_time("init"):
        if mode == "raise":
            raise RuntimeError("model file is corrupt")
        if mode == "exit":
            os._exit(3)
        if mode == "hang":
            time.sleep(300)


def _fault(name):
    chosen = faulted(name, RATE) if RATE else name == FAULT_ON
    if FAULT and chosen and _first_time(name):
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
        out.append(f"{name}: {value * args.factor}{PAD}")
    return out
