"""runner: declarative, YAML-driven parallel batch inference (Azure ML ParallelRunStep semantics)."""

__version__ = "0.1.0"
