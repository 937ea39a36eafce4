"""Whether the process a run.json or sweep.json names is still the one that wrote it
(standard library only): a `running` folder whose process is gone is `crashed`."""

from __future__ import annotations

import os
import socket
from pathlib import Path


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_start(pid: int) -> str | None:
    """The kernel's start tick of a process (Linux), to tell a reused pid from ours."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def live_status(said, host, pid, pid_start) -> str:
    """The status a reader reports of a file that says `said`, written by process `pid`
    (started at `pid_start`) on `host`: on this host, `running` whose process is gone, or
    whose pid another process now holds, is `crashed`; elsewhere it is taken at its word."""
    if said != "running" or host != socket.gethostname():
        return said
    if not isinstance(pid, int) or not pid_alive(pid):
        return "crashed"
    if pid_start is not None and process_start(pid) not in (None, pid_start):
        return "crashed"
    return said
