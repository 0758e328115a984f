"""pyXtal builder: real Wyckoff args from the test split, determinism, failure accounting."""

import numpy as np
import pytest

from wylib.build import build_one, build_structure, check_args, count_failures, trial_seed
from wylib.data import parse_cif
from wylib.tokens import WyckoffRepresentation


@pytest.fixture(scope="module")
def test_args(test_split_head):
    return [WyckoffRepresentation.from_structure(parse_cif(c)).to_pyxtal_args() for c in test_split_head.cif[:12]]


def test_builds_real_args_with_right_composition(test_args):
    trials = [build_structure(a, n_trials=2, seed=i) for i, a in enumerate(test_args)]
    stats = count_failures(trials)
    assert stats["n_samples"] == 12 and stats["n_trials"] == 24
    assert stats["sample_success_rate"] >= 0.95, stats
    for args, ts in zip(test_args, trials, strict=True):
        for s, reason in ts:
            if s is None:
                continue
            assert reason is None
            comp = s.composition.get_el_amt_dict()
            assert {el: int(n) for el, n in comp.items()} == dict(zip(args["species"], args["numIons"], strict=True))


def test_deterministic_for_a_seed(test_args):
    a = build_structure(test_args[0], n_trials=2, seed=7)
    b = build_structure(test_args[0], n_trials=2, seed=7)
    c = build_structure(test_args[0], n_trials=2, seed=8)
    assert all(
        np.allclose(x[0].frac_coords, y[0].frac_coords) and np.allclose(x[0].lattice.matrix, y[0].lattice.matrix)
        for x, y in zip(a, b, strict=True)
    )
    assert not np.allclose(a[0][0].lattice.matrix, c[0][0].lattice.matrix)
    assert a[0][0].lattice.abc != a[1][0].lattice.abc  # trials are independent
    assert trial_seed(0, 1) == trial_seed(0, 1) != trial_seed(0, 2)


def test_primitive_option():
    args = {"group": 225, "species": ["Na", "Cl"], "numIons": [4, 4], "sites": [["4a"], ["4b"]]}
    conv, _ = build_one(args, seed=1)
    prim, _ = build_one(args, seed=1, primitive=True)
    assert len(conv) == 8 and len(prim) == 2
    assert prim.volume == pytest.approx(conv.volume / 4)


@pytest.mark.parametrize(
    "args, reason",
    [
        ({"group": 225, "species": ["Na"]}, "bad_args: missing key"),
        (None, "bad_args: missing key"),
        ({"group": 231, "species": ["Na"], "numIons": [4], "sites": [["4a"]]}, "bad_args: group"),
        ({"group": 225, "species": ["Na", "Cl"], "numIons": [4], "sites": [["4a"]]}, "bad_args: lengths"),
        (
            {"group": 225, "species": ["Na"], "numIons": [8], "sites": [["4a"]]},
            "bad_args: numIons != sum of multiplicities",
        ),
        ({"group": 225, "species": ["Na"], "numIons": [8], "sites": [["8a"]]}, "bad_args: Wyckoff label not in group"),
        ({"group": 225, "species": ["Na"], "numIons": [4], "sites": [["a"]]}, "bad_args: Wyckoff label not in group"),
        ({"group": 225, "species": ["Na"], "numIons": [4], "sites": [["4A"]]}, "bad_args: Wyckoff label not in group"),
        ({"group": 2, "species": ["Na"], "numIons": [1], "sites": [["1j"]]}, "bad_args: Wyckoff label not in group"),
        ({"group": 225, "species": ["Na"], "numIons": [4], "sites": [[4]]}, "bad_args: Wyckoff label not in group"),
        (
            {"group": 225, "species": ["Na", "Cl"], "numIons": [4, 0], "sites": [["4a"], []]},
            "bad_args: numIons != sum of multiplicities",
        ),
    ],
)
def test_bad_args_are_reasons_not_errors(args, reason):
    assert check_args(args) == reason
    assert build_one(args, seed=0) == (None, reason)


def test_real_labels_pass_the_check(test_args):
    """Every label of every group is accepted with its multiplicity (8A: the 27th letter of Pmmm)."""
    from wylib.symmetry import wyckoff_tables

    for number, table in wyckoff_tables().items():
        for wp in table.positions:
            args = {"group": number, "species": ["Na"], "numIons": [wp.multiplicity], "sites": [[wp.label]]}
            assert check_args(args) is None, (number, wp.label)
    assert all(check_args(a) is None for a in test_args)
    assert check_args({"group": 47, "species": ["Na"], "numIons": [8], "sites": [["8A"]]}) is None


def test_failure_accounting():
    good = {"group": 225, "species": ["Na", "Cl"], "numIons": [4, 4], "sites": [["4a"], ["4b"]]}
    impossible = {"group": 225, "species": ["Na"], "numIons": [8], "sites": [["4a", "4a"]]}  # DoF-0 site twice
    bad = {"group": 225, "species": ["Na"], "numIons": [3], "sites": [["4a"]]}
    trials = [
        build_structure(good, n_trials=2),
        build_structure(impossible, n_trials=2, max_count=1),
        build_structure(bad, n_trials=3),
    ]
    stats = count_failures(trials)
    assert stats["n_samples"] == 3 and stats["n_samples_built"] == 1 and stats["n_trials"] == 7
    assert stats["n_trials_built"] == 2
    assert stats["failures"]["bad_args: numIons != sum of multiplicities"] == 3
    assert sum(v for k, v in stats["failures"].items() if k.startswith("pyxtal")) == 2, stats
    assert count_failures([])["n_samples"] == 0


def test_timeout_is_a_reason(test_args):
    big = max(test_args, key=lambda a: sum(a["numIons"]))
    assert build_one(big, seed=0, timeout=1e-4) == (None, "timeout")


ROCK_SALT = dict(group=225, species=["Na", "Cl"], numIons=[4, 4], sites=[["4a"], ["4b"]])
PEROVSKITE = dict(group=221, species=["Sr", "Ti", "O"], numIons=[1, 1, 3], sites=[["1a"], ["1b"], ["3c"]])


def test_build_many_does_not_depend_on_workers():
    from wylib.build import build_many

    args, seeds = [ROCK_SALT, PEROVSKITE, {"group": 999}], [1, 2, 3]
    one = list(build_many(args, seeds, n_trials=2, n_workers=1))
    two = list(build_many(args, seeds, n_trials=2, n_workers=2))
    assert [[(s.as_dict() if s else None, r) for s, r in ts] for ts in one] == [
        [(s.as_dict() if s else None, r) for s, r in ts] for ts in two
    ]
    assert one[0][0][0].composition.reduced_formula == "NaCl" and one[2][0] == (None, "bad_args: missing key")
    assert [len(ts) for ts in one] == [2, 2, 2]


def test_build_samples_cache_resumes_and_checks_its_key(tmp_path, monkeypatch):
    import wylib.generated as gen

    samples = [{"sample_id": "0", "pyxtal_args": ROCK_SALT}, {"sample_id": "1", "pyxtal_args": PEROVSKITE}]
    path = tmp_path / "builds.jsonl"
    first = gen.build_samples(samples, path, n_trials=2, seed=0, progress=False)
    lines = path.read_text().splitlines()
    path.write_text(lines[0] + "\n" + lines[1][:20])  # killed while writing the second sample
    built = []
    real = gen.build_many

    def counting(args_list, *a, **k):
        built.extend(args_list)
        return real(args_list, *a, **k)

    monkeypatch.setattr(gen, "build_many", counting)
    again = gen.build_samples(samples, path, n_trials=2, seed=0, progress=False)
    assert built == [PEROVSKITE]  # only the sample that was not finished
    assert [[s.as_dict() for s, _ in ts] for ts in again] == [[s.as_dict() for s, _ in ts] for ts in first]
    built.clear()
    gen.build_samples(samples, path, n_trials=3, seed=0, progress=False)  # other trials: another key
    assert len(built) == 2


def test_timeout_counts_cpu_time_not_waiting():
    """The build limit is on CPU time: a block that sleeps past it is not cut, one that computes past it is."""
    import time

    from wylib.build import _time_limit, _Timeout

    with _time_limit(0.2):
        time.sleep(0.5)  # waiting (as a starved process does) uses no CPU time
    with pytest.raises(_Timeout), _time_limit(0.2):
        t0 = time.process_time()
        while time.process_time() - t0 < 5:
            pass
