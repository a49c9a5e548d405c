"""Azure's batch inference tutorial entry script (file-dataset-image-inference-mnist),
for a Keras model: identify the digit in each PNG image of a mini-batch.

Runs unmodified on Azure ML (ParallelRunStep or a v2 parallel job) and on runner's local
engine. The model comes from `--model PATH` when the step passes it, else from the
registered model `mnist-prs`, as in the tutorial. Each mini-batch is classified in one
batched call, not one call per image.
"""

import argparse
import os

import numpy as np
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402

model = None


def init():
    global model
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None, help="the model folder (default: the registered mnist-prs)")
    args, _ = parser.parse_known_args()
    model_path = args.model
    if model_path is None:
        from azureml.core.model import Model

        model_path = Model.get_model_path("mnist-prs")
    model = tf.keras.models.load_model(os.path.join(model_path, "model.keras"))
    print(f"init: loaded the model from {model_path}")


def run(mini_batch):
    print(f"run method start: {__file__}, run({len(mini_batch)} files)")
    images = np.stack([np.asarray(Image.open(path).convert("L"), dtype=np.uint8) for path in mini_batch])
    # Calling the model (rather than model.predict) keeps a small batch cheap.
    probabilities = model(images, training=False).numpy()
    return [f"{os.path.basename(path)}: {int(np.argmax(p))}" for path, p in zip(mini_batch, probabilities)]
