"""CPU-seconds of the whole process tree, the one clock every benchmark uses for "per CPU-second":
with Spark in local mode that is the driver, the JVM and the Python workers, not wall time."""

from __future__ import annotations

import os

_TICK = os.sysconf("SC_CLK_TCK")


def children_map() -> dict[int, list[int]]:
    """pid -> the pids of its live children, from ``/proc``."""
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    return kids


def proc_cpu(pid: int) -> float:
    """utime + stime + cutime + cstime of one process (seconds): its own CPU and its reaped children's."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return sum(int(x) for x in fields[11:15]) / _TICK
    except (OSError, IndexError, ValueError):
        return 0.0


def tree_cpu_seconds(root: int | None = None) -> float:
    """CPU-seconds used so far by ``root`` (default: this process) and every live descendant, plus the
    children they have reaped. Take the difference of two readings around the work measured."""
    root = os.getpid() if root is None else root
    kids = children_map()
    total, stack = 0.0, [root]
    while stack:
        p = stack.pop()
        total += proc_cpu(p)
        stack.extend(kids.get(p, []))
    return total


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def uptime_line() -> str:
    """The load average as a sentence for a benchmark's result ("load average 1.2 0.9 0.7 on 2 cores")."""
    try:
        with open("/proc/loadavg") as f:
            return "load average " + " ".join(f.read().split()[:3]) + f" on {os.cpu_count()} cores"
    except OSError:
        return "unknown"
