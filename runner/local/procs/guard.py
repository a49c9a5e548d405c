"""The guard: the process the driver starts for each worker, which forks the worker and
stays behind as the child subreaper of everything the worker starts.

Why a process of its own: the subreaper must outlive the worker (when the worker dies,
by os._exit in run() or a crash, what it started must not go free) and must answer at
once when the driver dies (a worker's run() may be stuck in C code holding the GIL, so
nothing inside the worker can be relied on to act). The guard runs no user code: it
waits in poll() on three things:

- the worker's exit (SIGCHLD): the guard ends what is left of the tree, reaps it, and
  exits with the worker's own status, so the driver sees that status as the worker's;
- the driver's death: the guard holds the read end of a pipe whose write end only the
  driver holds (runner/local/transport/processes.py), so end-of-file on it means the driver's
  process is gone, however it died and whichever of its threads started the worker,
  even if that happened before the guard got here;
- SIGTERM (the driver stopping workers at once, or a user's `kill`).

Orphans of the worker's tree are reparented to the guard (not to init), so the guard
also reaps them as they exit: a run() that leaves `cmd &` behind per mini-batch leaves
no zombies. The worker gets PR_SET_PDEATHSIG(SIGKILL) (its parent, the guard, is single
threaded, so the signal comes only with the guard's death), in case the guard is killed
from outside. The driver kills a worker by freezing and killing the guard's tree
(runner/local/procs/proctree.py), the guard first, so nothing is reparented away meanwhile.
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import select
import signal
import sys
import time
from typing import Any, NoReturn

from runner.local.procs.proctree import end_tree

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
REAP_SECONDS = 1.0  # for what was just killed to exit (a thread stuck in the kernel can hold it)

_terminated = False


def start(socket_fd: int, lifeline_fd: int) -> None:
    """Called first by the worker's bootstrap. Returns in the worker (the child); the
    guard (the parent, whose pid the driver holds) never returns. Elsewhere than Linux
    there is no subreaper: it returns at once and the worker runs unguarded."""
    if not sys.platform.startswith("linux"):
        os.close(lifeline_fd)
        return
    libc = ctypes.CDLL(None, use_errno=True)
    _prctl(libc, PR_SET_CHILD_SUBREAPER, 1)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    # Before the fork: a worker that dies at once must still wake the guard.
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, _noop)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver decides when workers stop
    guard = os.getpid()
    worker = os.fork()
    if worker == 0:
        _prctl(libc, PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != guard:  # the guard died before the line above
            os._exit(1)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        for fd in (wake_read, wake_write, lifeline_fd):
            os.close(fd)
        _prctl(libc, PR_SET_CHILD_SUBREAPER, 0)
        return
    os.close(socket_fd)  # the worker's death must reach the driver as end-of-file
    _watch(worker, wake_read, lifeline_fd)


def _watch(worker: int, wake: int, lifeline: int) -> NoReturn:
    status: int | None = None
    poller = select.poll()  # not select(): the lifeline's fd number is the driver's, maybe past 1023
    poller.register(wake, select.POLLIN)
    poller.register(lifeline, select.POLLIN)  # the driver never writes: readable means end-of-file
    while True:
        ready = {fd for fd, _ in poller.poll()}
        if wake in ready:
            _drain(wake)
        status = _reap(worker, status)
        if status is not None or lifeline in ready or _terminated:
            break
    end_tree(os.getpid(), include_root=False)
    status = _reap_all(worker, status)
    _exit_as(status)


def _reap(worker: int, status: int | None) -> int | None:
    """Reap every child that has exited (the worker, or an orphan handed to the guard);
    returns the worker's wait status once it has exited."""
    while True:
        try:
            pid, code = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return status
        if pid == 0:
            return status
        if pid == worker:
            status = code


def _reap_all(worker: int, status: int | None) -> int | None:
    """After end_tree: wait for every child to exit (killed, or handed up to the guard as
    their parents died), so that once the guard has exited the driver finds nothing of
    the tree alive, and none is left a zombie for init to collect."""
    deadline = time.monotonic() + REAP_SECONDS
    while True:
        try:
            pid, code = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return status
        if pid == worker:
            status = code
        elif pid == 0:
            if time.monotonic() > deadline:
                return status
            time.sleep(0.001)


def _exit_as(status: int | None) -> NoReturn:
    """Exit as the worker did: its exit code, or death by the same signal."""
    code = os.waitstatus_to_exitcode(status) if status is not None else -signal.SIGKILL
    if code >= 0:
        os._exit(code)
    sig = -code
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the worker dumped its core, if any; not us
    if sig not in (signal.SIGKILL, signal.SIGSTOP):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
    os.kill(os.getpid(), sig)
    os._exit(128 + sig)  # a signal whose default is to be ignored


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def _prctl(libc: Any, option: int, value: int) -> None:
    if libc.prctl(option, value, 0, 0, 0) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"prctl({option}): {os.strerror(code or errno.EINVAL)}")


def _noop(_signum: int, _frame: object) -> None:
    """Only wakes poll() (through the wakeup fd)."""


def _terminate(_signum: int, _frame: object) -> None:
    global _terminated
    _terminated = True
