"""The dispatch benchmark's entry script: does nothing, returns one row per item."""


def init():
    pass


def run(mini_batch):
    return mini_batch
