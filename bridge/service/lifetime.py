"""Child processes end with the service: workers and listener processes never outlive it."""

from __future__ import annotations

import ctypes
import os
import signal

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def end_with_parent(parent_pid: int | None) -> None:
    """In a child process: ask Linux to send SIGTERM when the service dies, even by SIGKILL, so that no worker
    outlives it (the pool's own shutdown only runs when the service stops gracefully)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: graceful stops still end the workers
        return
    if parent_pid is not None and os.getppid() != parent_pid:  # the service died before the request took effect
        os._exit(0)
