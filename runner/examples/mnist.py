"""The tutorial's data and model, made here from what scikit-learn ships (nothing is
downloaded): its 1,797 handwritten digits (8x8, 0-16) scaled to MNIST's 28x28 grayscale
(the digit in the centre 20x20, as MNIST centres its digits), split with a fixed seed into
held-out test images written as PNG files `0.png`, `1.png`, ... (their labels beside the
folder in `data/mnist-labels.csv`, so the folder holds only inputs), and a
small Keras classifier trained on the rest, saved as `models/mnist/model.keras`."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for the annotations: the functions import numpy when they run
    import numpy as np
    import numpy.typing as npt

SEED = 0
TEST_FRACTION = 0.2


@dataclass
class Prepared:
    images: Path
    labels: Path
    model: Path
    test_images: int
    test_accuracy: float
    made: bool  # False: already there, left alone


def _to_28x28(digits_8x8: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.uint8]:
    import numpy as np
    from PIL import Image

    out = np.zeros((len(digits_8x8), 28, 28), dtype=np.uint8)
    for i, digit in enumerate(digits_8x8):
        small = Image.fromarray((digit * (255.0 / 16.0)).astype(np.uint8), mode="L")
        out[i, 4:24, 4:24] = np.asarray(small.resize((20, 20), Image.Resampling.BILINEAR))
    return out


def prepare(root: str | Path = ".", force: bool = False, epochs: int = 15) -> Prepared:
    root = Path(root)
    images, model_dir = root / "data" / "mnist", root / "models" / "mnist"
    labels = root / "data" / "mnist-labels.csv"
    stamp = model_dir / "example.json"
    if stamp.exists() and not force and labels.exists():
        info = json.loads(stamp.read_text())
        return Prepared(images, labels, model_dir, info["test_images"], info["test_accuracy"], made=False)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf
    from PIL import Image
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    pixels = _to_28x28(digits.images)
    x_train, x_test, y_train, y_test = train_test_split(
        pixels, digits.target, test_size=TEST_FRACTION, random_state=SEED, stratify=digits.target)

    images.mkdir(parents=True, exist_ok=True)
    for old in images.iterdir():
        old.unlink()
    with open(labels, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "label"])
        for i, (image, label) in enumerate(zip(x_test, y_test)):
            Image.fromarray(image, mode="L").save(images / f"{i}.png")
            writer.writerow([f"{i}.png", int(label)])

    tf.keras.utils.set_random_seed(SEED)
    model = tf.keras.Sequential([
        tf.keras.Input(shape=(28, 28)),
        tf.keras.layers.Rescaling(1.0 / 255),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(128, activation="relu"),
        tf.keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)
    # Measured on the PNG files as written, so the figure is what the job will see.
    read_back = np.stack([np.asarray(Image.open(images / f"{i}.png")) for i in range(len(x_test))])
    accuracy = float((model.predict(read_back, verbose=0).argmax(axis=1) == y_test).mean())
    model_dir.mkdir(parents=True, exist_ok=True)
    model.save(model_dir / "model.keras")
    # The model loads where the same Keras reads it: the spec's Azure environment pins it.
    stamp.write_text(json.dumps({"source": "sklearn.datasets.load_digits", "seed": SEED,
                                 "test_images": len(x_test), "train_images": len(x_train),
                                 "test_accuracy": round(accuracy, 4), "tensorflow": tf.__version__,
                                 "keras": tf.keras.__version__}, indent=1) + "\n")
    return Prepared(images, labels, model_dir, len(x_test), round(accuracy, 4), made=True)
