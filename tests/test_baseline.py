"""The marginal no-learning baseline."""

from collections import Counter

import pytest

from wylib.baseline import MarginalBaseline
from wylib.tokens import WyckoffRepresentation, formal_validity_error


@pytest.fixture(scope="module")
def train_reps(rocksalt, perovskite):
    return [WyckoffRepresentation.from_structure(s) for s in (rocksalt, perovskite)] * 5


def test_samples_valid_and_deterministic(train_reps):
    base = MarginalBaseline(train_reps)
    a, b = base.sample(200, seed=3), base.sample(200, seed=3)
    assert a == b and a != base.sample(200, seed=4)
    assert all(formal_validity_error(r.spacegroup, r.tokens) is None for r in a)
    assert set(Counter(r.spacegroup for r in a)) == {221, 225}
    assert {e for r in a for e in r.elements} <= {"Na", "Cl", "Sr", "Ti", "O"}


def test_fixed_positions_not_reused(train_reps):
    """Pm-3m has only DoF-0 1a/1b/3c/3d in training: never more than one site on each."""
    for r in MarginalBaseline(train_reps).sample(100, seed=0, spacegroups=[221] * 100):
        letters = [s.letter for s in r.sites]
        assert len(letters) == len(set(letters))


def test_empty_training_set_raises():
    with pytest.raises(ValueError):
        MarginalBaseline([])
