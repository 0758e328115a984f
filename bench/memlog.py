"""Log RSS, PSS and USS (MiB) of a process and all its descendants every few seconds: where a stage's memory goes.

    nohup .venv/bin/python -m bench.memlog <pid of `python -m wylib.pipeline`> 10 output/mem.log &

One line per sample: time, the summed RSS / PSS / USS, then pid:rss/pss/uss:command tail for every process.
Stops when the root process ends.
"""

from __future__ import annotations

import datetime
import sys
import time

import psutil


def main(pid: int, every: float, path: str) -> None:
    root = psutil.Process(pid)
    with open(path, "a", buffering=1) as out:
        while root.is_running():
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            rows, rss, pss, uss = [], 0, 0, 0
            for p in procs:
                try:
                    m, cmd = p.memory_full_info(), " ".join(p.cmdline())[-60:]
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                rss, pss, uss = rss + m.rss, pss + m.pss, uss + m.uss
                rows.append(f"{p.pid}:{m.rss >> 20}/{m.pss >> 20}/{m.uss >> 20}:{cmd}")
            stamp = f"{datetime.datetime.now():%H:%M:%S} rss {rss >> 20} pss {pss >> 20} uss {uss >> 20}"
            out.write(stamp + " | " + " | ".join(rows) + "\n")
            time.sleep(every)


if __name__ == "__main__":
    main(int(sys.argv[1]), float(sys.argv[2]), sys.argv[3])
