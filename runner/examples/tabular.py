"""A tabular example made offline from what scikit-learn ships: its breast cancer data
set (569 rows, 30 features), replicated with small seeded noise to a few MB of CSV in
several files, each row with an `id` and a `clinic` (the partition key), and a
scikit-learn classifier trained on the original rows, saved with joblib."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

SEED = 0
COPIES = 24
FILES = 4
CLINICS = ["north", "south", "east", "west"]
# The CSV files of a folder as Azure ML v2 reads a tabular input; `runner init --tabular`
# writes the same file with its own first line.
MLTABLE_BODY = """\
paths:
  - pattern: ./*.csv
transformations:
  - read_delimited:
      delimiter: ','
      header: all_files_same_headers
      encoding: utf8
"""
MLTABLE = "# The CSV files of this folder, as Azure ML v2 reads them (written by `runner example tabular`).\n" \
    + MLTABLE_BODY


@dataclass
class Prepared:
    data: Path
    model: Path
    rows: int
    made: bool


def prepare(root: str | Path = ".", force: bool = False) -> Prepared:
    root = Path(root)
    data, model_dir = root / "data" / "tabular", root / "models" / "tabular"
    stamp = model_dir / "example.json"
    if stamp.exists() and not force:
        return Prepared(data, model_dir, json.loads(stamp.read_text())["rows"], made=False)

    import joblib
    import numpy as np
    import pandas as pd
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    original = load_breast_cancer(as_frame=True)
    features = original.data.rename(columns=lambda c: c.replace(" ", "_"))
    rng = np.random.default_rng(SEED)
    copies = [features * rng.normal(1.0, 0.02, size=features.shape) for _ in range(COPIES)]
    table = pd.concat(copies, ignore_index=True).round(5)
    table.insert(0, "id", range(len(table)))
    table.insert(1, "clinic", [CLINICS[i] for i in rng.integers(0, len(CLINICS), len(table))])
    data.mkdir(parents=True, exist_ok=True)
    for old in data.glob("*.csv"):
        old.unlink()
    for part, chunk in enumerate(np.array_split(np.arange(len(table)), FILES)):
        table.iloc[chunk].to_csv(data / f"part-{part}.csv", index=False)

    # Azure ML v2 reads a tabular folder as an MLTable; the local engine skips this file.
    (data / "MLTable").write_text(MLTABLE, encoding="utf-8")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=SEED))
    model.fit(features, original.target)
    model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, model_dir / "model.joblib")
    stamp.write_text(json.dumps({"source": "sklearn.datasets.load_breast_cancer", "seed": SEED,
                                 "rows": len(table), "features": list(features.columns)}, indent=1) + "\n")
    return Prepared(data, model_dir, len(table), made=True)
