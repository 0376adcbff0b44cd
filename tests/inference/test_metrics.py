"""Sample-quality metrics: MMD, sliced Wasserstein, C2ST and mode coverage."""

import numpy as np
import pytest
from scipy.spatial.distance import pdist
from sklearn.linear_model import LogisticRegression

from gendsl.data import EIGHT_GAUSSIANS_CENTRES, EIGHT_GAUSSIANS_STD, eight_gaussians
from gendsl.errors import DataError
from gendsl.inference import metrics
from gendsl.inference.metrics import MMDResult, ModeCoverage, c2st, mmd, mode_coverage, sliced_wasserstein


def _normal_pair(n=500, d=2, shift=0.0, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(n, d)) + shift


def _direct_mmd2(x, y, h):
    """O(n^2) reference: the unbiased U-statistic written out with full matrices."""

    def gram(a, b):
        return np.exp(-((a[:, None, :] - b[None, :, :]) ** 2).sum(-1) / (2 * h * h))

    n, m = len(x), len(y)
    kxx, kyy = gram(x, x), gram(y, y)
    return (
        (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
        + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        - 2 * gram(x, y).mean()
    )


def test_public_surface():
    assert set(metrics.__all__) == {"MMDResult", "ModeCoverage", "mmd", "sliced_wasserstein", "c2st", "mode_coverage"}
    with pytest.raises(AttributeError):
        MMDResult(0.0, 1.0, None).mmd2 = 1.0  # frozen


# --------------------------------------------------------------------------
# MMD


def test_mmd_null_is_near_zero_and_not_significant():
    # seeds 0..4 gave |mmd2| <= 0.0011 and p in [0.14, 0.42]
    result = mmd(*_normal_pair(), permutations=200, seed=0)
    assert abs(result.mmd2) < 0.005
    assert result.p_value > 0.05


def test_mmd_detects_mean_shift():
    # seeds 0..4 gave mmd2 in [0.19, 0.24] and p = 1/201 (no permutation beat it)
    null = mmd(*_normal_pair(), seed=0)
    shifted = mmd(*_normal_pair(shift=1.0), permutations=200, seed=0)
    assert shifted.mmd2 > 0.1
    assert shifted.mmd2 > 10 * abs(null.mmd2)
    assert shifted.p_value <= 0.01


def test_mmd_matches_direct_u_statistic():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(50, 3)), rng.normal(0.5, 1.0, size=(40, 3))
    result = mmd(x, y, bandwidth=1.7)
    assert result.bandwidth == 1.7
    assert abs(result.mmd2 - _direct_mmd2(x, y, 1.7)) < 1e-10


def test_mmd_blocked_equals_unblocked():
    x, y = _normal_pair(n=3000, shift=0.2, seed=2)
    blocked = metrics._mmd2(x, y, 1.5)  # 2048-row tiles: 2 x 2 tiles per sum
    whole = metrics._mmd2(x, y, 1.5, block=len(x))  # one tile per sum
    assert blocked == pytest.approx(whole, rel=1e-10, abs=1e-14)


def test_mmd_median_heuristic():
    x, y = _normal_pair(n=100, seed=3)
    assert mmd(x, y).bandwidth == np.median(pdist(np.concatenate([x, y])))


def test_mmd_median_heuristic_subsamples_large_inputs():
    x, y = _normal_pair(n=1500, seed=4)
    h = mmd(x, y).bandwidth
    assert h == pytest.approx(np.median(pdist(np.concatenate([x, y]))), rel=0.05)


def test_mmd_same_seed_same_result():
    # n = 2500 also exercises the 2000-point subsample of the permutation test
    x, y = _normal_pair(n=2500, shift=0.05, seed=5)
    first, second = mmd(x, y, permutations=20, seed=7), mmd(x, y, permutations=20, seed=7)
    assert first == second
    assert 0 < first.p_value <= 1


def test_mmd_reads_1d_input_as_column():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=80), rng.normal(size=70)
    assert mmd(x, y, bandwidth=1.0) == mmd(x[:, None], y[:, None], bandwidth=1.0)


@pytest.mark.parametrize("d, h", [(1, 0.5), (1, 2.0), (2, 0.5), (2, 1.2), (3, 2.5)])
def test_mmd_spectral_sums_equal_the_tiles(d, h):
    rng = np.random.default_rng(d)
    x, y = rng.normal(size=(3000, d)), rng.normal(0.2, 1.1, size=(2500, d))
    x, y = x - 0.1, y - 0.1
    sums = metrics._spectral_sums(x, y, h, when_cheaper=False)
    assert sums is not None
    tiles = [metrics._kernel_sum(a, b, h, 2048) for a, b in ((x, x), (y, y), (x, y))]
    assert sums == pytest.approx(tiles, rel=1e-12)


def test_mmd_spectral_path_is_taken_and_agrees(monkeypatch):
    # 2-D samples spanning a few bandwidths: mmd must not build a single kernel tile
    rng = np.random.default_rng(8)
    x, y = rng.uniform(0, 3, size=(6000, 2)), rng.uniform(0.1, 3, size=(5000, 2))
    expected = metrics._mmd2(x, y, 1.3, spectral=False)

    def no_tiles(*args):
        raise AssertionError("tiled kernel sum used")

    monkeypatch.setattr(metrics, "_kernel_sum", no_tiles)
    assert mmd(x, y, bandwidth=1.3).mmd2 == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_mmd_sums_a_few_stray_points_by_tiles_and_the_rest_spectrally(monkeypatch):
    # a sampler that ran away: four points 60-80 bandwidths out, so no rule spans the whole sample
    rng = np.random.default_rng(10)
    x, y = rng.uniform(0, 3, size=(9000, 2)), rng.uniform(0.1, 3, size=(8000, 2))
    x[:3] = [[40.0, 1.0], [1.0, -35.0], [41.0, 0.5]]
    y[0] = [-30.0, 2.0]
    assert metrics._spectral_sums(x, y, 0.5, when_cheaper=False) is None
    expected = metrics._mmd2(x, y, 0.5, spectral=False)
    tiled = metrics._kernel_sum
    sizes = []

    def counted(a, b, h, block):
        sizes.append(min(len(a), len(b)))
        return tiled(a, b, h, block)

    monkeypatch.setattr(metrics, "_kernel_sum", counted)
    assert mmd(x, y, bandwidth=0.5).mmd2 == pytest.approx(expected, rel=1e-9, abs=1e-15)
    assert sizes and max(sizes) <= 3  # every tiled sum has a stray side: nothing quadratic in n
    # a stray at 1e12 must not drag the centring (and with it the phases' precision) along
    x[0] = [1e12, 0.0]
    assert mmd(x, y, bandwidth=0.5).mmd2 == pytest.approx(metrics._mmd2(x, y, 0.5, spectral=False), rel=1e-9)


def test_mmd_falls_back_to_tiles_when_the_rule_cannot_span_the_data():
    assert metrics._hermite_rule(200.0) is None  # 200 bandwidths: no rule of 256 nodes holds
    x, y = _normal_pair(n=300, seed=9)
    assert metrics._spectral_sums(x, y, 0.01) is None
    assert metrics._spectral_sums(x[:, :1].repeat(4, 1), y[:, :1].repeat(4, 1), 1.0) is None  # 4 features
    assert mmd(x, y, bandwidth=0.01).mmd2 == pytest.approx(_direct_mmd2(x, y, 0.01), abs=1e-12)


# --------------------------------------------------------------------------
# Sliced Wasserstein


def test_sliced_wasserstein_same_distribution_is_small():
    # seeds 0..2 gave 0.047..0.075 at n=2000
    assert sliced_wasserstein(*_normal_pair(n=2000)) < 0.12


def test_sliced_wasserstein_1d_shift_is_the_shift():
    x = np.random.default_rng(7).normal(size=2000)
    for p in (1, 2):
        assert sliced_wasserstein(x, x + 1.5, p=p) == pytest.approx(1.5, abs=1e-9)
    # independent samples: seeds 0..2 gave 1.52..1.56
    y = np.random.default_rng(8).normal(size=2000) + 1.5
    assert sliced_wasserstein(x, y, p=1) == pytest.approx(1.5, abs=0.1)


def test_sliced_wasserstein_grows_with_shift_in_2d():
    # SW_2 of a shift s in d dims is |s| / sqrt(d): shift (1, 1) gives 1.0
    same = sliced_wasserstein(*_normal_pair(n=2000))
    shifted = sliced_wasserstein(*_normal_pair(n=2000, shift=1.0))
    assert shifted == pytest.approx(1.0, abs=0.1)
    assert shifted > 5 * same


def test_sliced_wasserstein_unequal_sizes():
    x, y = _normal_pair(n=2000, seed=9)
    assert sliced_wasserstein(x, y[:1300]) < 0.12
    assert sliced_wasserstein(x[:700], y + 1.0) == pytest.approx(1.0, abs=0.15)
    # in 1-D the value is W_1 between quantile functions on a grid of max(n, m) levels
    a, b = x[:700, 0], y[:, 1]
    levels = (np.arange(2000) + 0.5) / 2000
    gap = np.quantile(a, levels, method="inverted_cdf") - np.quantile(b, levels, method="inverted_cdf")
    assert sliced_wasserstein(a, b, p=1) == pytest.approx(np.abs(gap).mean(), rel=1e-12)
    # a sample of m copies of the same n points is the same distribution
    assert sliced_wasserstein(x[:50], np.tile(x[:50], (3, 1))) == pytest.approx(0.0, abs=1e-12)


# --------------------------------------------------------------------------
# C2ST


def test_c2st_same_distribution_is_chance():
    # seeds 0..2 gave 0.496..0.504
    assert 0.40 <= c2st(*_normal_pair(), seed=0) <= 0.60


def test_c2st_separated_samples_are_told_apart():
    # seeds 0..2 gave 0.967..0.980
    assert c2st(*_normal_pair(shift=3.0), seed=0) > 0.9


def test_c2st_any_classifier_and_unequal_sizes():
    x, y = _normal_pair(shift=3.0, seed=1)
    assert c2st(x, y[:300], classifier=LogisticRegression(), folds=3) > 0.9


# --------------------------------------------------------------------------
# Mode coverage


def test_mode_coverage_eight_gaussians_all_covered():
    cov = mode_coverage(eight_gaussians(n=4000, seed=0), EIGHT_GAUSSIANS_CENTRES, EIGHT_GAUSSIANS_STD)
    assert isinstance(cov, ModeCoverage)
    assert cov.covered == 8
    assert cov.high_quality > 0.95  # 1 - exp(-9/2) = 0.989 expected at 3 std in 2-D
    assert sum(cov.counts) == round(cov.high_quality * 4000)
    assert all(0.09 < f < 0.16 for f in cov.fractions)


def test_mode_coverage_three_modes():
    rng = np.random.default_rng(10)
    modes = rng.choice([0, 2, 5], size=3000)
    s = EIGHT_GAUSSIANS_CENTRES[modes] + EIGHT_GAUSSIANS_STD * rng.normal(size=(3000, 2))
    cov = mode_coverage(s, EIGHT_GAUSSIANS_CENTRES, EIGHT_GAUSSIANS_STD)
    assert cov.covered == 3
    assert [i for i, c in enumerate(cov.counts) if c] == [0, 2, 5]


def test_mode_coverage_wide_gaussian_is_low_quality():
    s = 2.0 * np.random.default_rng(11).normal(size=(4000, 2))
    assert mode_coverage(s, EIGHT_GAUSSIANS_CENTRES, EIGHT_GAUSSIANS_STD).high_quality < 0.05


def test_mode_coverage_counts_by_hand_and_min_fraction():
    centres = np.array([[0.0, 0.0], [10.0, 0.0]])
    s = np.array([[0.0, 0.0]] * 97 + [[10.0, 0.5]] * 3 + [[5.0, 5.0]])  # 97 hits, 3 hits, 1 miss
    cov = mode_coverage(s, centres, std=0.5, radius=1.0)
    assert cov.counts == (97, 3)
    assert cov.fractions == (97 / 101, 3 / 101)
    assert cov.high_quality == 100 / 101
    assert cov.covered == 1  # 3/101 < 0.05
    assert mode_coverage(s, centres, std=0.5, radius=1.0, min_fraction=0.01).covered == 2


# --------------------------------------------------------------------------
# Errors


_X = np.zeros((10, 2)) + np.arange(10)[:, None]


@pytest.mark.parametrize(
    "call, word",
    [
        (lambda: mmd(np.full((10, 2), np.nan), _X), "x"),
        (lambda: mmd(_X, np.r_[_X[:9], [[np.inf, 0]]]), "y"),
        (lambda: mmd(_X[:1], _X), "x"),
        (lambda: mmd(np.zeros((4, 2, 2)), _X), "x"),
        (lambda: mmd("abc", _X), "x"),
        (lambda: mmd(_X, _X, bandwidth=0.0), "bandwidth"),
        (lambda: mmd(_X, _X, bandwidth=float("nan")), "bandwidth"),
        (lambda: mmd(np.ones((5, 2)), np.ones((5, 2))), "bandwidth"),
        (lambda: mmd(_X, _X, permutations=-1), "permutations"),
        (lambda: mmd(_X, _X, permutations=1.5), "permutations"),
        (lambda: sliced_wasserstein(_X, _X, projections=0), "projections"),
        (lambda: sliced_wasserstein(_X, _X, p=0.5), "p"),
        (lambda: c2st(_X, _X, folds=1), "folds"),
        (lambda: c2st(_X, _X[:4], folds=5), "folds"),
        (lambda: mode_coverage(_X, EIGHT_GAUSSIANS_CENTRES, std=0.0), "std"),
        (lambda: mode_coverage(_X, EIGHT_GAUSSIANS_CENTRES, 0.1, radius=-1.0), "radius"),
        (lambda: mode_coverage(_X, EIGHT_GAUSSIANS_CENTRES, 0.1, min_fraction=1.5), "min_fraction"),
        (lambda: mode_coverage(_X, np.zeros((8, 3)), 0.1), "samples and centres"),
    ],
)
def test_bad_input_raises_data_error_naming_the_argument(call, word):
    with pytest.raises(DataError, match=rf"^{word}\b"):  # the message opens with the argument
        call()


def test_dimension_mismatch_names_both_shapes():
    with pytest.raises(DataError, match=r"\(10, 2\) and \(6, 3\)"):
        sliced_wasserstein(_X, np.zeros((6, 3)))
    with pytest.raises(ValueError):  # DataError is also a ValueError
        c2st(_X, np.zeros((6, 3)))
