"""`python -m wylib ...`: the command line (wylib.cli)."""

from wylib.cli import main

raise SystemExit(main())
