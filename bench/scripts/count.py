"""The resume benchmark's entry script: logs each run() call (one line per mini-batch
started, in a file per process), works SLEEP seconds, returns one row per item."""

import os
import time

LOG = None


def init():
    global LOG
    LOG = open(os.path.join(os.environ["COUNT_DIR"], f"{os.getpid()}.log"), "a", buffering=1)


def run(mini_batch):
    LOG.write(os.path.basename(mini_batch[0]) + "\n")
    time.sleep(float(os.environ.get("SLEEP", "0")))
    return mini_batch
