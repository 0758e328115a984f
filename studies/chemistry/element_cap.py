"""The sampler's optional cap on distinct elements (`wylib.sample.sample(max_elements=3)`) on the default model.

    WYLIB_DATA_DIR=../shared/data .venv/bin/python -m studies.chemistry.element_cap

10,000 free samples at T = 1 (seed 0) of ``runs/default``, without and with the cap, scored at the Wyckoff
level like ``studies/chemistry/learning_curve.py``; writes ``studies/chemistry/results/element_cap.csv`` / ``.md``.
"""

from __future__ import annotations

import time

from studies.chemistry.common import RESULTS, save_scores, score
from studies.common import REPO
from studies.provenance import host_stamp


def main() -> None:
    import pandas as pd

    from wylib import evaluate as ev

    t0 = time.time()
    refs = ev.load_references("mp_20_biternary_open")
    run = REPO / "runs" / "default"
    rows = [{"max_elements": str(cap), **score(run, refs, 10000, 200, max_elements=cap)} for cap in (None, 3)]
    t = pd.DataFrame(rows)
    shown = save_scores(t, "element_cap", ["max_elements", "share_4plus_elements"])
    text = (
        f"# Distinct-element cap in the sampler\n\n{host_stamp()}, "
        f"{(time.time() - t0) / 60:.1f} min. Command:\n\n    WYLIB_DATA_DIR=../shared/data .venv/bin/python -m "
        "studies.chemistry.element_cap\n\n`runs/default`, 10000 free samples at T = 1 (seed 0) each; `max_elements=3`: "
        "once a sample holds 3 distinct elements (the most of any training structure) the element step may only "
        "repeat one of them or stop. Wyckoff-level metrics against the test split as in "
        "`studies/chemistry/results/learning_curve.md`.\n\n" + shown.to_markdown(index=False) + "\n"
    )
    (RESULTS / "element_cap.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
