"""Local stand-in for the package Azure ML puts on ParallelRunStep compute nodes."""
