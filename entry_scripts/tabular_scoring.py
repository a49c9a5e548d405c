"""Score rows of a tabular dataset with a scikit-learn model: `run()` gets a pandas
DataFrame and returns one row per input row, keeping the `id` and `clinic` key columns
so the output joins back to the input. With partition_keys, each mini-batch is one
clinic, and mini_batch_context.partition_key_value says which."""

import argparse
import logging
import os

import joblib
import pandas as pd

model = None
log = logging.getLogger(__name__)


def init():
    global model
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True, help="the folder with model.joblib")
    args, _ = parser.parse_known_args()
    model = joblib.load(os.path.join(args.model, "model.joblib"))


def run(mini_batch, mini_batch_context=None):
    keys = getattr(mini_batch_context, "partition_key_value", {})
    log.info("scoring %d rows %s", len(mini_batch), keys or "")
    features = mini_batch[list(model.feature_names_in_)]
    return pd.DataFrame({
        "id": mini_batch["id"],
        "clinic": mini_batch["clinic"],
        "malignant_probability": (1 - model.predict_proba(features)[:, 1]).round(4),
    })
