from runner.compat.entry_script import EntryScript

__all__ = ["EntryScript"]
