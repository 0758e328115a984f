"""Peak RSS sampling of a process tree (used for the per-stage memory of run_all)."""

import subprocess
import sys

from wylib.memory import PeakRSS, tree_memory

HOLD_200MB = "import time; b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(1.5)"


def test_children_are_counted_only_when_asked():
    with PeakRSS(children=True, interval=0.05) as tree, PeakRSS(children=False, interval=0.05) as alone:
        subprocess.run([sys.executable, "-c", HOLD_200MB], check=True)
    assert tree.peak - alone.peak > 150 * 2**20
    assert alone.peak_mib > 5 and tree.peak >= alone.peak


def test_tree_rss_of_this_process_is_positive():
    import psutil

    assert tree_memory(psutil.Process(), children=False)[0] > 0


def test_pss_is_tracked_when_asked_and_never_above_rss():
    import psutil

    rss, pss = tree_memory(psutil.Process(), children=False, pss=True)
    assert 0 < pss <= rss and tree_memory(psutil.Process(), children=False)[1] == 0
    with PeakRSS(children=True, interval=0.05, pss=True) as mem:
        subprocess.run([sys.executable, "-c", HOLD_200MB], check=True)
    assert mem.peak_pss > 150 * 2**20 and mem.peak_pss <= mem.peak
