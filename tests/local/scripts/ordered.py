"""A test entry script whose rows are committed out of input order: the mini-batch that
holds the first input (f0000.txt, or the row with id 0) waits until another mini-batch
has finished (a marker file in FAULT_MARKERS), so its rows are not the output's first.
Files give `<name>: <value>` rows; tables give a frame of their ids."""

import os
import time

import pandas as pd

MARKERS = os.environ["FAULT_MARKERS"]


def _wait_for_another():
    deadline = time.monotonic() + 60  # a test fails on the order, never hangs
    while time.monotonic() < deadline and not any(n.startswith("done-") for n in os.listdir(MARKERS)):
        time.sleep(0.01)


def _finished(tag):
    open(os.path.join(MARKERS, f"done-{tag}"), "w").close()


def run(mini_batch):
    if isinstance(mini_batch, pd.DataFrame):
        first = bool((mini_batch["id"] == 0).any())
        if first:
            _wait_for_another()
        out = pd.DataFrame({"id": mini_batch["id"]})
        if not first:
            _finished(int(mini_batch["id"].iloc[0]))
        return out
    names = [os.path.basename(path) for path in mini_batch]
    if "f0000.txt" in names:
        _wait_for_another()
    rows = []
    for path, name in zip(mini_batch, names):
        with open(path) as handle:
            rows.append(f"{name}: {int(handle.read())}")
    if "f0000.txt" not in names:
        _finished(names[0])
    return rows
