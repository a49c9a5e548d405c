"""EntryScript, as `azureml_user.parallel_run` provides it on Azure ML compute: the
worker's logger and folders, read from what the local engine sets for each worker."""

from __future__ import annotations

import logging
import os


class EntryScript:
    """`EntryScript().logger`, `.output_dir`, `.log_dir`, `.working_dir`, `.agent_name`."""

    @property
    def logger(self) -> logging.Logger:
        # The worker's root handler writes to logs/user/entry_script_log/<node>/<process>.
        return logging.getLogger("EntryScript")

    @property
    def output_dir(self) -> str:
        return os.environ.get("RUNNER_OUTPUT_DIR", os.getcwd())

    @property
    def log_dir(self) -> str:
        return os.environ.get("RUNNER_LOG_DIR", os.getcwd())

    @property
    def working_dir(self) -> str:
        return os.environ.get("RUNNER_WORKING_DIR", os.getcwd())

    @property
    def agent_name(self) -> str:
        return os.environ.get("RUNNER_AGENT_NAME", "local")

    @property
    def config(self) -> dict[str, str]:
        return {"output_dir": self.output_dir, "log_dir": self.log_dir, "working_dir": self.working_dir}
