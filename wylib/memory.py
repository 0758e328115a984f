"""Peak resident memory of a process and, optionally, all its descendants (kernels, workers)."""

from __future__ import annotations

import threading

import psutil


def tree_rss(proc: psutil.Process, children: bool = True) -> int:
    """Resident set size in bytes of `proc` plus (if `children`) every live descendant."""
    procs = [proc] + (proc.children(recursive=True) if children else [])
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue  # a worker that ended between listing and reading
    return total


class PeakRSS:
    """Context manager sampling the RSS of this process (and its process tree) in a thread.

    `peak` is the largest sum seen, in bytes; samples every `interval` seconds, so very short
    spikes can be missed. ``with PeakRSS(children=True) as mem: ...; mem.peak_mib``.
    """

    def __init__(self, pid: int | None = None, children: bool = True, interval: float = 0.1):
        self.proc = psutil.Process(pid)
        self.children, self.interval = children, interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> int:
        """Take one sample now; returns the current tree RSS."""
        now = tree_rss(self.proc, self.children)
        self.peak = max(self.peak, now)
        return now

    @property
    def peak_mib(self) -> float:
        return self.peak / 2**20

    def __enter__(self) -> PeakRSS:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()
