"""The second argument of `run(mini_batch, mini_batch_context)`, as on Azure ML."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class MiniBatchContext:
    # {key: value} of the partition this mini-batch holds; {} when inputs are not partitioned.
    partition_key_value: dict[str, str] = field(default_factory=dict)
    minibatch_index: int = 0
    dataset: str = ""  # the input it came from, e.g. datasets.mnist
