"""Written as for Azure ML's ParallelRunStep: EntryScript's logger and folders, the
registered model by name, parse_known_args, print."""

import argparse
import os

from azureml.core.model import Model
from azureml_user.parallel_run import EntryScript

parser = argparse.ArgumentParser()
parser.add_argument("--suffix", default="")
args, unknown = parser.parse_known_args()
offset = None


def init():
    global offset
    entry = EntryScript()
    entry.logger.info("init on %s, output in %s", entry.agent_name, entry.output_dir)
    with open(os.path.join(Model.get_model_path("offset-model"), "offset.txt")) as handle:
        offset = int(handle.read())
    with open(os.path.join(entry.working_dir, "scratch.txt"), "w") as handle:
        handle.write("scratch")
    print(f"init: offset {offset}, unknown args {unknown}")


def run(mini_batch):
    entry = EntryScript()
    entry.logger.info("run %d files", len(mini_batch))
    return [f"{os.path.basename(p)}: {int(open(p).read()) + offset}{args.suffix}" for p in mini_batch]
