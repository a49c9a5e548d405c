"""The files `runner init` writes (runner/examples/scaffold.py): `__NAME__` stands for the
project's name. Two kinds: text files counted word by word, or CSV rows scored by pandas.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from runner.examples.tabular import MLTABLE_BODY


@dataclass(frozen=True)
class Kind:
    spec: str
    variant_suffix: str
    variant: str
    script: str
    data: dict[str, str] = field(default_factory=dict)  # sample inputs and the "model"


_COMMANDS = """\
# Made by `runner init`. Each command from the project's folder:
#   runner validate specs/                        # every spec and variant, each problem with file:line:col
#   runner plan specs/__NAME__.yaml               # the resolved spec and what will run
#   runner apply specs/__NAME__.yaml              # run it here, then: runner results latest
#   runner status latest --watch                  # from another terminal (Ctrl-C stops watching, not the run)
#   runner runs                                   # every run: status, failed items, duration
#   runner plan specs/__NAME__.yaml --target azureml-v2   # the Azure ML job it compiles to
"""

_AZURE = """\
azure:                           # read only by --target azureml / azureml-v2
  compute:
    name: "{{ env.AML_COMPUTE_CLUSTER_NAME | default('cpu-cluster') }}"
    vm_size: STANDARD_D2_V2
    max_nodes: 2
  environment:
    name: __NAME__
    python_version: "3.11"
    pip: [%s]
"""

FILES = Kind(
    spec="""\
# yaml-language-server: $schema=../schema/runner-spec.schema.json
#
# __NAME__: count the words of each text file in data/texts/, two files per mini-batch,
# leaving out the stop words of a small "model" (models/stopwords/).
#
""" + _COMMANDS + """\
name: __NAME__
description: Words in each text file, stop words left out

parameters:                      # PipelineParameters on Azure; --set-param NAME=VALUE
  texts_param: {dataset: texts}
  batch_size_param: "2"

datasets:
  texts: {kind: file, path: ../data/texts/}     # relative to this file

models:
  stopwords: {path: ../models/stopwords}        # Model.get_model_path("stopwords")

""" + _AZURE % 'azureml-core, "azureml-dataset-runtime[fuse]"' + """
steps:
  - name: count-words
    inputs: ["${{ parameters.texts_param }}"]
    output: {name: counts}
    arguments: ["--min-length", 2]
    allow_reuse: true              # unchanged spec, inputs and code: reuse; `runner apply --no-reuse` runs it
    parallel_run:
      source_directory: ..         # the project; .amlignore says what its snapshot leaves out
      entry_script: entry_scripts/score.py
      mini_batch_size: "${{ parameters.batch_size_param }}"   # files per mini-batch
      error_threshold: 0           # one failed file fails the job (-1: never)
      run_max_try: 3
      run_invocation_timeout: 60   # seconds for one run(mini_batch)
      append_row_file_name: counts.txt
      process_count_per_node: 2
""",
    variant_suffix="one-per-batch",
    variant="""\
# yaml-language-server: $schema=../schema/runner-variant.schema.json
#
# A variant keeps only what differs from its base: here one file per mini-batch.
# runner plan specs/__NAME__.one-per-batch.yaml   # shows the parameter it changes
extends: __NAME__.yaml
parameters:
  batch_size_param: "1"
""",
    script='''\
"""The entry script of __NAME__, as Azure ML's ParallelRunStep calls it, which runner's
local engine does too: init() once per worker process, run(mini_batch) once per
mini-batch. Each item of the list run() returns is one row of the step's output
(append_row). The file runs unmodified on Azure ML."""

import argparse
import os

from azureml.core.model import Model
from azureml_user.parallel_run import EntryScript

logger = None
stopwords = set()
min_length = 1


def init():
    """Once per worker: read the step's arguments and load the model."""
    global logger, stopwords, min_length
    entry = EntryScript()
    logger = entry.logger  # this worker's log: `runner logs latest --worker 0`
    parser = argparse.ArgumentParser()
    parser.add_argument("--min-length", type=int, default=1)
    args, _ = parser.parse_known_args()
    min_length = args.min_length
    # A model of the spec: registered on Azure, linked locally; the same call finds both.
    folder = Model.get_model_path("stopwords")
    with open(os.path.join(folder, "stopwords.txt"), encoding="utf-8") as handle:
        stopwords = {line.strip() for line in handle if line.strip()}
    logger.info("init: %d stop words from %s", len(stopwords), folder)


def run(mini_batch):
    """mini_batch: a list of file paths. One row per file; an exception fails the
    mini-batch, which is tried again up to run_max_try times."""
    rows = []
    for path in mini_batch:
        with open(path, encoding="utf-8") as handle:
            words = [word.strip(".,;:!?\\"'()").lower() for word in handle.read().split()]
        kept = [word for word in words if len(word) >= min_length and word not in stopwords]
        rows.append(f"{os.path.basename(path)}: {len(kept)} words")
    logger.info("counted %d files", len(mini_batch))
    return rows
''',
    data={
        "data/texts/01-azure.txt": "Azure Machine Learning runs batch inference in parallel on a cluster.\n",
        "data/texts/02-local.txt": "The local engine runs the same entry script on this machine.\n",
        "data/texts/03-spec.txt": "A spec is kept in git and reviewed in a pull request.\n",
        "data/texts/04-variant.txt": "A variant keeps only what differs from its base.\n",
        "data/texts/05-output.txt": "Each mini-batch appends its rows to the output, once.\n",
        "models/stopwords/stopwords.txt": "a\nan\nand\nin\nis\nits\nof\non\nonce\nthe\nthis\nto\n",
    },
)

_ROWS = "id,length,width,weight\n"

TABULAR = Kind(
    spec="""\
# yaml-language-server: $schema=../schema/runner-spec.schema.json
#
# __NAME__: score the rows of the CSV files in data/rows/ with a linear "model"
# (models/weights/weights.json), about 1KB of rows per mini-batch.
#
""" + _COMMANDS + """\
name: __NAME__
description: A score for each row, keyed by id

parameters:                      # PipelineParameters on Azure; --set-param NAME=VALUE
  rows_param: {dataset: rows}
  batch_size_param: 1KB

datasets:
  # A folder of CSV files; its MLTable file is how Azure ML v2 reads it.
  rows: {kind: tabular, path: ../data/rows/, format: csv}

models:
  weights: {path: ../models/weights}            # Model.get_model_path("weights")

""" + _AZURE % 'pandas, azureml-core, "azureml-dataset-runtime[pandas,fuse]"' + """
steps:
  - name: score-rows
    inputs: ["${{ parameters.rows_param }}"]
    output: {name: scores}
    allow_reuse: true              # unchanged spec, inputs and code: reuse; `runner apply --no-reuse` runs it
    parallel_run:
      source_directory: ..         # the project; .amlignore says what its snapshot leaves out
      entry_script: entry_scripts/score.py
      mini_batch_size: "${{ parameters.batch_size_param }}"   # bytes of rows per mini-batch
      error_threshold: 0           # one failed row fails the job (-1: never)
      run_max_try: 3
      run_invocation_timeout: 60   # seconds for one run(mini_batch)
      append_row_file_name: scores.txt
      process_count_per_node: 2
""",
    variant_suffix="small-batches",
    variant="""\
# yaml-language-server: $schema=../schema/runner-variant.schema.json
#
# A variant keeps only what differs from its base: here smaller mini-batches.
# runner plan specs/__NAME__.small-batches.yaml   # shows the parameter it changes
extends: __NAME__.yaml
parameters:
  batch_size_param: "256"    # a number: bytes of rows
""",
    script='''\
"""The entry script of __NAME__, as Azure ML's ParallelRunStep calls it for a tabular
dataset, which runner's local engine does too: init() once per worker process,
run(mini_batch) once per mini-batch, with a pandas DataFrame of rows. The DataFrame
run() returns is appended to the step's output, a row per input row (append_row). The
file runs unmodified on Azure ML."""

import json
import os

import pandas as pd
from azureml.core.model import Model
from azureml_user.parallel_run import EntryScript

logger = None
weights = {}


def init():
    """Once per worker: load the model."""
    global logger, weights
    logger = EntryScript().logger  # this worker's log: `runner logs latest --worker 0`
    # A model of the spec: registered on Azure, linked locally; the same call finds both.
    folder = Model.get_model_path("weights")
    with open(os.path.join(folder, "weights.json"), encoding="utf-8") as handle:
        weights = json.load(handle)
    logger.info("init: weights %s", weights)


def run(mini_batch):
    """mini_batch: a DataFrame of rows. An exception fails the mini-batch, which is
    tried again up to run_max_try times."""
    score = sum(mini_batch[column] * weight for column, weight in weights.items())
    logger.info("scored %d rows", len(mini_batch))
    return pd.DataFrame({"id": mini_batch["id"], "score": score.round(3)})
''',
    data={
        "data/rows/part-0.csv": _ROWS + "".join(f"{i},{10 + i % 7}.5,{3 + i % 4}.25,{50 + i}\n"
                                                for i in range(1, 41)),
        "data/rows/part-1.csv": _ROWS + "".join(f"{i},{12 + i % 5}.0,{2 + i % 3}.75,{40 + i}\n"
                                                for i in range(41, 81)),
        "data/rows/MLTable": "# The CSV files of this folder, as Azure ML v2 reads a tabular input (the local "
                             "engine skips this file).\n" + MLTABLE_BODY,
        "models/weights/weights.json": '{"length": 0.5, "width": 1.5, "weight": 0.02}\n',
    },
)

AMLIGNORE = """\
# What a step's code snapshot leaves out (Azure ML reads this file, and runner's local
# engine too; .gitignore syntax). source_directory is the project folder: data and
# models reach the step as inputs, not as code.
.git/
.runner/
data/
models/
schema/
__pycache__/
*.pyc
.venv/
"""

GITIGNORE = """\
# runner's runs (`runner runs`, `runner gc`)
.runner/
__pycache__/
*.pyc
.venv/
"""

PRE_COMMIT_CONFIG = """\
# pre-commit (https://pre-commit.com): `pre-commit install`, then each commit validates
# the specs it changes. This hook runs the `runner` installed here; to have pre-commit
# install runner itself, use the hook runner's repository provides instead:
#   - repo: <runner's git URL>
#     rev: <a tag>
#     hooks: [{id: runner-validate}]
repos:
  - repo: local
    hooks:
      - id: runner-validate
        name: runner validate
        entry: runner validate
        language: system
        files: (^|/)specs/.*\\.ya?ml$
        exclude: (^|/)_[^/]*$
"""
