"""A tabular test entry script: one output row per input row, `<id> <text length>`;
SLEEP=<seconds> per mini-batch, so a test can stop a run partway."""

import os
import time

SLEEP = float(os.environ.get("SLEEP", "0"))


def run(mini_batch):
    if SLEEP:
        time.sleep(SLEEP)
    text = mini_batch["text"].fillna("") if "text" in mini_batch else [""] * len(mini_batch)
    return [f"{row_id} {len(str(t))}" for row_id, t in zip(mini_batch["id"], text)]
