"""What a run reads from the file system before it runs: input listings, work counts and
code snapshots. Every target uses these; `runner.plan` stays pure (no I/O)."""
