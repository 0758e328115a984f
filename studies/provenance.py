"""Where, when and how a study script wrote its results file: the command line and the host stamp it names.

Standard library only, so that light scripts (pandas over a history file) stay quick to start.
"""

from __future__ import annotations

import datetime
import platform
import shlex
import sys


def command_line(module: str) -> str:
    """How this script was called, from the repository root: ``python -m <module> <its arguments>``."""
    return f"python -m {module} " + shlex.join(sys.argv[1:])


def host_stamp() -> str:
    """``Host `<host>`, <YYYY-mm-dd HH:MM>``: where and when a results file is written."""
    return f"Host `{platform.node()}`, {datetime.datetime.now():%Y-%m-%d %H:%M}"
