"""The run folder and its typed records: the one place that knows file layouts."""
