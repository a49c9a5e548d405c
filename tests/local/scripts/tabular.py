"""A tabular test entry script: doubles x, keeps id (and the partition's keys)."""

import pandas as pd


def run(mini_batch, mini_batch_context):
    out = pd.DataFrame({"id": mini_batch["id"], "double": mini_batch["x"] * 2})
    for key, value in mini_batch_context.partition_key_value.items():
        out[key] = value
        assert (mini_batch[key].astype(str) == value).all()
    return out
