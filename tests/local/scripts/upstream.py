"""A test entry script that reads another step's output through an argument: each row
names its input file and what the --upstream folder holds (or that it is not a folder)."""

import argparse
import os

parser = argparse.ArgumentParser()
parser.add_argument("--upstream", default="")
args, _unknown = parser.parse_known_args()


def run(mini_batch):
    if os.path.isdir(args.upstream):
        found = " ".join(sorted(os.listdir(args.upstream)))
    else:
        found = f"<not a folder: {args.upstream}>"
    return [f"{os.path.basename(path)} {found}" for path in mini_batch]
