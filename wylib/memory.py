"""Peak resident memory of a process and, optionally, all its descendants (kernels, workers)."""

from __future__ import annotations

import threading

import psutil


def tree_memory(proc: psutil.Process, children: bool = True, pss: bool = False) -> tuple[int, int]:
    """(RSS, PSS) in bytes of `proc` and (if `children`) its live descendants; PSS only if `pss`."""
    procs = [proc] + (proc.children(recursive=True) if children else [])
    rss = proportional = 0
    for p in procs:
        try:
            if pss:
                m = p.memory_full_info()
                rss, proportional = rss + m.rss, proportional + m.pss
            else:
                rss += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue  # a worker that ended between listing and reading
    return rss, proportional


class PeakRSS:
    """Peak RSS (bytes) of a process tree, sampled every `interval` s: ``with PeakRSS() as mem: ...``."""

    def __init__(self, pid: int | None = None, children: bool = True, interval: float = 0.1, pss: bool = False):
        self.proc = psutil.Process(pid)
        self.children, self.interval, self.pss = children, interval, pss
        self.peak = self.peak_pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> int:
        """Take one sample now; returns the current tree RSS."""
        now, proportional = tree_memory(self.proc, self.children, self.pss)
        self.peak, self.peak_pss = max(self.peak, now), max(self.peak_pss, proportional)
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
