"""What Azure ML entry scripts import, provided when they run on the local engine."""
