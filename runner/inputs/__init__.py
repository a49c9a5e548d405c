"""What a run reads from the file system before it runs: input listings (listing.py),
work counts (work.py), code snapshots (snapshot.py), what is at each dataset's path and
the working directory for planning (checks.py), and `runner validate` over files and
folders (validate.py). Every target uses these; `runner.plan` stays pure (no I/O)."""
