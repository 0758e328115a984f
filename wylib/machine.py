"""The machine and its numeric kernels, recorded with every run (docs/relaxation.md)."""

from __future__ import annotations

import os
import platform


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (Linux), else `platform.processor()`."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict:
    """Host, CPU model, cores, torch version, its CPU kernel capability and thread count."""
    # torch on demand: wylib.pipeline (run_all.sh's process, whose memory counts in each stage's peak RSS)
    # imports this module and needs torch only once a stage has run
    import torch

    return {
        "host": platform.node(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": torch.get_num_threads(),
    }
