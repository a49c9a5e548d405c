"""The one-file job the start-up tests run (tests/cli/test_imports.py, test_exit.py)."""

SPEC = """\
name: one-file
datasets:
  one: {kind: file, path: data}
steps:
  - name: step
    inputs: ['${{ datasets.one }}']
    output: {name: out}
    parallel_run: {source_directory: code, entry_script: score.py, mini_batch_size: 1}
"""
