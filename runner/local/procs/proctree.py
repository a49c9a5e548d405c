"""Process trees on Linux, read from /proc: freeze a tree from the top down, then kill it.

Killing a tree by walking it while it runs leaves windows: a process forks after it was
listed, or exits and hands its children up to a subreaper already walked past, or exits
and is reaped so that its pid names another process by the time it is signalled. So each
process is stopped (SIGSTOP, which it cannot catch) and seen stopped, every thread of it,
before its children are listed: a stopped process cannot fork, and cannot reap, so the
children listed are all it has and their pids stay theirs. The walk is repeated from the
root until a whole pass finds nothing new (a process that exited before it was stopped
handed its children to a subreaper above, the root when the root is one); then all of
them get SIGKILL, which ends a stopped process too.

What this cannot reach: a process of another user (a setuid program), which refuses
the signals, and one that has asked a service outside the tree to start it (systemd-run).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

FREEZE_SECONDS = 2.0  # a thread in uninterruptible sleep (D) stops only when it wakes

_STOPPED = frozenset("TtZX")  # stopped, traced, zombie, dead


def end_tree(root: int, *, include_root: bool, limit: float = FREEZE_SECONDS) -> list[int]:
    """Stop `root`'s descendants (and `root` itself with include_root), then kill them
    all. The caller must not reap children meanwhile when it is the root. Returns the
    pids signalled. Past `limit` seconds of waiting for processes to stop (threads
    stuck in the kernel), what was found is killed as it is."""
    deadline = time.monotonic() + limit
    frozen: list[int] = []
    seen = {root}
    if include_root:
        _freeze(root, deadline)
        frozen.append(root)
    found = True
    while found:
        found = False
        listed = _lister()
        stack = [root]
        while stack:
            for child in listed(stack.pop()):
                stack.append(child)
                if child not in seen:
                    seen.add(child)
                    found = True
                    _freeze(child, deadline)  # before its own children are listed
                    frozen.append(child)
        if time.monotonic() > deadline:  # one that refuses SIGSTOP (another user's) and forks on
            break
    for pid in frozen:
        _signal(pid, signal.SIGKILL)
    return frozen


def children(pid: int) -> list[int]:
    """The children of `pid`, zombies included: from /proc/PID/task/*/children where the
    kernel has it (CONFIG_PROC_CHILDREN), else by reading every process's parent."""
    if _HAS_CHILDREN_FILES:
        found: list[int] = []
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                try:
                    with open(f"/proc/{pid}/task/{task}/children", "rb") as handle:
                        found.extend(int(p) for p in handle.read().split())
                except OSError:  # the thread ended
                    continue
        except OSError:  # the process is gone
            return []
        return found
    return [child for child, parent in _parents() if parent == pid]


def _lister() -> Callable[[int], list[int]]:
    """Children by parent for one pass. Without the children files, one reading of every
    process serves the pass: a child made after it, by a process not yet stopped, is
    found by the next pass, and the last pass reads only stopped processes."""
    if _HAS_CHILDREN_FILES:
        return children
    by_parent: dict[int, list[int]] = {}
    for child, parent in _parents():
        by_parent.setdefault(parent, []).append(child)
    return lambda pid: by_parent.get(pid, [])


def _parents() -> list[tuple[int, int]]:
    pairs: list[tuple[int, int]] = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return pairs
    for name in names:
        if name.isdigit():
            fields = _stat_fields(f"/proc/{name}/stat")
            if fields is not None:
                pairs.append((int(name), int(fields[1])))
    return pairs


def _stat_fields(path: str) -> list[str] | None:
    """The fields of a stat file after the command name (which may hold spaces and
    parentheses): state first, then the parent's pid."""
    try:
        with open(path, "rb") as handle:
            text = handle.read()
    except OSError:
        return None
    fields = text[text.rfind(b")") + 2:].split()
    return [f.decode() for f in fields[:2]] if len(fields) >= 2 else None


def _freeze(pid: int, deadline: float) -> None:
    if not _signal(pid, signal.SIGSTOP):
        return
    pause = 0.0002
    while not _all_stopped(pid) and time.monotonic() < deadline:
        time.sleep(pause)
        pause = min(pause * 2, 0.01)


def _all_stopped(pid: int) -> bool:
    """Every thread stopped: SIGSTOP reaches a thread at its next return to user space,
    so a fork already under way completes (and is then listed) first."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return True  # gone
    for task in tasks:
        fields = _stat_fields(f"/proc/{pid}/task/{task}/stat")
        if fields is not None and fields[0] not in _STOPPED:
            return False
    return True


def _signal(pid: int, sig: int) -> bool:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


_HAS_CHILDREN_FILES = os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children")
