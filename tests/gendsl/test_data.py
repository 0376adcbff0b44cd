"""Tests for gendsl.data: bundled offline data sets and local MNIST readers."""

from __future__ import annotations

import gzip
import struct
import os
from pathlib import Path

import numpy as np
import pytest

from gendsl import data

# shared/ sits beside the repository (in CI too); GENDSL_SHARED_DATA overrides.
SHARED_MNIST = Path(os.environ.get("GENDSL_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data")) \
    / "binarized_mnist.npz"

TOY_SETS = ["moons", "circles", "eight_gaussians", "checkerboard", "spirals", "blobs"]
LABELLED_TOY_SETS = ["moons", "circles", "eight_gaussians", "spirals", "blobs"]


# ---------------------------------------------------------------- digits


@pytest.mark.parametrize(
    ("kind", "dtype", "values"),
    [
        ("binary", np.float32, {0.0, 1.0}),
        ("levels", np.int64, set(range(17))),
        ("unit", np.float32, None),
    ],
)
def test_digits_kinds_shape_dtype_range(kind, dtype, values):
    x = data.digits(kind=kind)
    assert x.shape == (1797, 64)
    assert x.dtype == dtype
    if values is not None:
        assert set(np.unique(x).tolist()) <= values
    assert x.min() == 0
    assert x.max() == (16 if kind == "levels" else 1)


def test_digits_kinds_agree():
    levels = data.digits(kind="levels")
    np.testing.assert_allclose(data.digits(kind="unit"), levels / 16.0, rtol=1e-6)
    np.testing.assert_array_equal(data.digits(kind="binary"), (levels >= 8).astype(np.float32))
    # Thresholding at half intensity leaves a sensible fraction of pixels on.
    assert 0.2 < data.digits().mean() < 0.5


def test_digits_labels():
    x, y = data.digits(return_labels=True)
    assert x.shape == (1797, 64)
    assert y.shape == (1797,)
    assert y.dtype == np.int64
    assert set(y.tolist()) == set(range(10))


def test_digits_unknown_kind_names_valid_ones():
    with pytest.raises(ValueError, match="binary.*levels.*unit"):
        data.digits(kind="gray")


def test_digits_returns_fresh_arrays():
    a = data.digits(kind="levels")
    a[:] = -1
    assert data.digits(kind="levels").min() == 0


def test_digits_split_sizes_disjoint_and_complete():
    train, test = data.digits(kind="levels", split=(0.8, 0.2), seed=3)
    assert (len(train), len(test)) == (1438, 359)
    full = data.digits(kind="levels")
    rows = {r.tobytes() for r in full}
    # Digits has duplicate images, so compare multisets of rows, not sets.
    combined = np.concatenate([train, test])
    assert sorted(r.tobytes() for r in combined) == sorted(r.tobytes() for r in full)
    assert all(r.tobytes() in rows for r in train)


def test_digits_split_with_labels_keeps_pairs_aligned():
    x, y = data.digits(kind="levels", return_labels=True)
    lookup = {}
    for row, label in zip(x, y):
        lookup.setdefault(row.tobytes(), set()).add(int(label))
    parts = data.digits(kind="levels", return_labels=True, split=(0.5, 0.3, 0.2), seed=1)
    assert len(parts) == 3
    assert sum(len(px) for px, _ in parts) == 1797
    for px, py in parts:
        assert len(px) == len(py)
        assert all(int(label) in lookup[row.tobytes()] for row, label in zip(px, py))


def test_digits_split_is_seeded():
    a_train, _ = data.digits(split=(0.8, 0.2), seed=0, return_labels=True)
    b_train, _ = data.digits(split=(0.8, 0.2), seed=0, return_labels=True)
    c_train, _ = data.digits(split=(0.8, 0.2), seed=1, return_labels=True)
    np.testing.assert_array_equal(a_train[0], b_train[0])
    np.testing.assert_array_equal(a_train[1], b_train[1])
    assert not np.array_equal(a_train[1], c_train[1])


def test_split_disjoint_and_covering():
    # Every wine row is distinct, so rows identify examples exactly.
    x = data.wine(return_labels=False)
    a, b = data.wine(return_labels=False, split=(0.6, 0.4), seed=5)
    assert (len(a), len(b)) == (107, 71)
    rows_a, rows_b = {r.tobytes() for r in a}, {r.tobytes() for r in b}
    assert rows_a.isdisjoint(rows_b)
    assert rows_a | rows_b == {r.tobytes() for r in x}
    # The split shuffles: the first part is not simply the first rows.
    assert not np.array_equal(a, x[:107])


def test_split_smaller_than_one_drops_rest():
    a, b = data.iris(return_labels=False, split=(0.5, 0.2), seed=0)
    assert (len(a), len(b)) == (75, 30)


@pytest.mark.parametrize("split", [(0.8, 0.3), (0.5, -0.1), (), (0.0, 1.0)])
def test_bad_split_raises(split):
    with pytest.raises(ValueError, match="split"):
        data.digits(split=split)


def test_split_fractions_summing_to_one_with_roundoff():
    parts = data.iris(return_labels=False, split=(0.7, 0.2, 0.1))
    assert [len(p) for p in parts] == [105, 30, 15]


# ---------------------------------------------------------------- tabular


@pytest.mark.parametrize(
    ("loader", "shape", "classes"),
    [
        (data.breast_cancer, (569, 30), 2),
        (data.iris, (150, 4), 3),
        (data.wine, (178, 13), 3),
    ],
)
def test_tabular_sets(loader, shape, classes):
    x, y = loader()
    assert x.shape == shape
    assert x.dtype == np.float64
    assert y.shape == (shape[0],)
    assert y.dtype == np.int64
    assert set(y.tolist()) == set(range(classes))
    assert np.isfinite(x).all()
    x_only = loader(return_labels=False)
    assert isinstance(x_only, np.ndarray)
    np.testing.assert_array_equal(x_only, x)


def test_tabular_split_with_labels():
    (xa, ya), (xb, yb) = data.breast_cancer(split=(0.8, 0.2), seed=2)
    assert xa.shape == (455, 30) and ya.shape == (455,)
    assert xb.shape == (114, 30) and yb.shape == (114,)


# ---------------------------------------------------------------- 2-D toy sets


@pytest.mark.parametrize("name", TOY_SETS)
def test_toy_shape_dtype_finite(name):
    x = data.load(name, n=257, seed=0)
    assert isinstance(x, np.ndarray)
    assert x.shape == (257, 2)
    assert x.dtype == np.float32
    assert np.isfinite(x).all()


@pytest.mark.parametrize("name", TOY_SETS)
def test_toy_determinism(name):
    fn = data.DATASETS[name]
    a, b, c = fn(n=200, seed=7), fn(n=200, seed=7), fn(n=200, seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("name", LABELLED_TOY_SETS)
def test_toy_labels(name):
    fn = data.DATASETS[name]
    x, y = fn(n=300, seed=1, return_labels=True)
    assert x.shape == (300, 2)
    assert y.shape == (300,)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(x, fn(n=300, seed=1))


@pytest.mark.parametrize("name", TOY_SETS)
def test_toy_rejects_bad_n(name):
    with pytest.raises(ValueError, match="n must be a positive integer"):
        data.DATASETS[name](n=0)


def test_moons_and_circles_labels_are_binary():
    for fn in (data.moons, data.circles):
        _, y = fn(n=400, seed=0, return_labels=True)
        assert set(y.tolist()) == {0, 1}


def test_circles_radii():
    x, y = data.circles(n=2000, noise=0.0, seed=0, return_labels=True)
    r = np.linalg.norm(x, axis=1)
    np.testing.assert_allclose(r[y == 0], 1.0, atol=1e-5)
    np.testing.assert_allclose(r[y == 1], 0.5, atol=1e-5)


def test_eight_gaussians_constants():
    centres = data.EIGHT_GAUSSIANS_CENTRES
    assert centres.shape == (8, 2)
    np.testing.assert_allclose(np.linalg.norm(centres, axis=1), data.EIGHT_GAUSSIANS_RADIUS)
    assert data.EIGHT_GAUSSIANS_RADIUS == 2.0
    assert data.EIGHT_GAUSSIANS_STD == 0.02
    # Distinct, evenly spaced modes.
    gaps = np.linalg.norm(centres - np.roll(centres, 1, axis=0), axis=1)
    np.testing.assert_allclose(gaps, gaps[0])
    with pytest.raises(ValueError):
        centres[0, 0] = 0.0


def test_eight_gaussians_points_near_their_centres():
    x, y = data.eight_gaussians(n=4000, seed=3, return_labels=True)
    assert set(y.tolist()) == set(range(8))
    dist = np.linalg.norm(x - data.EIGHT_GAUSSIANS_CENTRES[y], axis=1)
    # 2-D radius of an isotropic Gaussian: P(r > 5 std) = exp(-12.5) ~ 4e-6.
    assert dist.max() < 5 * data.EIGHT_GAUSSIANS_STD
    # Nearest-centre assignment recovers every label.
    d_all = np.linalg.norm(x[:, None, :] - data.EIGHT_GAUSSIANS_CENTRES[None], axis=2)
    np.testing.assert_array_equal(d_all.argmin(axis=1), y)
    # Modes are roughly equally likely.
    counts = np.bincount(y, minlength=8)
    assert counts.min() > 400 and counts.max() < 600
    # Empirical per-axis std matches the documented one.
    np.testing.assert_allclose((x - data.EIGHT_GAUSSIANS_CENTRES[y]).std(), data.EIGHT_GAUSSIANS_STD, rtol=0.05)


def test_eight_gaussians_noise_scales_spread():
    x, y = data.eight_gaussians(n=2000, noise=0.2, seed=0, return_labels=True)
    np.testing.assert_allclose((x - data.EIGHT_GAUSSIANS_CENTRES[y]).std(), 0.2, rtol=0.05)


def test_checkerboard_on_filled_squares():
    x = data.checkerboard(n=5000, seed=0)
    assert np.abs(x).max() <= 4.0
    # Unit-2 cells; filled cells have even (column + row) index sum.
    col = np.floor(x[:, 0] / 2).astype(int)
    row = np.floor(x[:, 1] / 2).astype(int)
    assert np.all((col + row) % 2 == 0)
    # All 8 filled cells are used, roughly uniformly.
    cells = np.unique(np.stack([col, row], axis=1), axis=0, return_counts=True)[1]
    assert len(cells) == 8
    assert cells.min() > 500


def test_checkerboard_noise_blurs_edges():
    x = data.checkerboard(n=5000, noise=0.3, seed=0)
    col = np.floor(x[:, 0] / 2).astype(int)
    row = np.floor(x[:, 1] / 2).astype(int)
    assert np.any((col + row) % 2 == 1)


def test_spirals_arms_are_point_reflections():
    x, y = data.spirals(n=1001, noise=0.0, seed=0, return_labels=True)
    assert np.bincount(y).tolist() == [501, 500]
    assert np.abs(x).max() < 5.0
    # Arm 1 is arm 0 rotated by 180 degrees: their radii distributions match.
    r0, r1 = np.linalg.norm(x[y == 0], axis=1), np.linalg.norm(x[y == 1], axis=1)
    assert abs(np.median(r0) - np.median(r1)) < 0.3
    # Reflected arm-1 points lie close to arm 0, not on top of arm 1's side.
    near = np.linalg.norm((-x[y == 1])[:, None] - x[y == 0][None], axis=2).min(axis=1)
    assert np.median(near) < 0.2


def test_blobs_clusters_separated():
    x, y = data.blobs(n=900, k=3, seed=4, return_labels=True)
    assert np.bincount(y).tolist() == [300, 300, 300]
    centres = data.blob_centres(3)
    assert centres.shape == (3, 2)
    means = np.stack([x[y == j].mean(axis=0) for j in range(3)])
    np.testing.assert_allclose(means, centres, atol=0.15)
    # Minimum between-cluster distance far exceeds the max within-cluster radius.
    within = np.linalg.norm(x - centres[y], axis=1).max()
    between = min(np.linalg.norm(x[y == a][:, None] - x[y == b][None], axis=2).min() for a, b in [(0, 1), (0, 2), (1, 2)])
    assert between > 2 * within
    # Rows are shuffled, so the first rows are not one cluster.
    assert len(set(y[:12].tolist())) > 1


def test_blobs_other_k():
    x, y = data.blobs(n=50, k=5, seed=0, return_labels=True)
    assert x.shape == (50, 2)
    assert np.bincount(y).tolist() == [10] * 5
    with pytest.raises(ValueError, match="k must be"):
        data.blobs(n=10, k=0)


# ---------------------------------------------------------------- binarized MNIST


def _synthetic_splits(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {s: (rng.uniform(size=(n, 784)) < 0.13).astype(np.uint8) for s, n in zip(data.MNIST_SPLITS, (6, 4, 5))}


def test_binarized_mnist_packed_npz(tmp_path):
    splits = _synthetic_splits()
    path = tmp_path / "bm.npz"
    np.savez(path, **{k: np.packbits(v, axis=1) for k, v in splits.items()})
    for split, expected in splits.items():
        x = data.binarized_mnist(path, split=split)
        assert x.dtype == np.float32
        assert x.shape == (len(expected), 784)
        np.testing.assert_array_equal(x, expected)


def test_binarized_mnist_unpacked_npz(tmp_path):
    splits = _synthetic_splits(1)
    path = tmp_path / "bm.npz"
    np.savez(path, **splits)
    x = data.binarized_mnist(str(path), split="valid")
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x, splits["valid"])


def test_binarized_mnist_amat_dir_and_file(tmp_path):
    splits = _synthetic_splits(2)
    for split, a in splits.items():
        np.savetxt(tmp_path / f"binarized_mnist_{split}.amat", a, fmt="%d")
    for split, expected in splits.items():
        x = data.binarized_mnist(tmp_path, split=split)
        assert x.dtype == np.float32 and x.shape == expected.shape
        np.testing.assert_array_equal(x, expected)
    one = data.binarized_mnist(tmp_path / "binarized_mnist_test.amat", split="test")
    np.testing.assert_array_equal(one, splits["test"])
    with pytest.raises(ValueError, match="'train' split"):
        data.binarized_mnist(tmp_path / "binarized_mnist_train.amat", split="test")


def test_binarized_mnist_dir_falls_back_to_npz(tmp_path):
    splits = _synthetic_splits(3)
    np.savez(tmp_path / "binarized_mnist.npz", **{k: np.packbits(v, axis=1) for k, v in splits.items()})
    np.testing.assert_array_equal(data.binarized_mnist(tmp_path, split="test"), splits["test"])


def test_binarized_mnist_missing_file(tmp_path):
    missing = tmp_path / "nope.npz"
    with pytest.raises(FileNotFoundError, match="nope.npz") as info:
        data.binarized_mnist(missing)
    assert "train, valid, test" in str(info.value)
    with pytest.raises(FileNotFoundError, match="binarized_mnist_valid.amat"):
        data.binarized_mnist(tmp_path, split="valid")


def test_binarized_mnist_bad_split_and_key(tmp_path):
    path = tmp_path / "bm.npz"
    np.savez(path, train=np.zeros((2, 98), np.uint8))
    with pytest.raises(ValueError, match="train, valid, test"):
        data.binarized_mnist(path, split="validation")
    with pytest.raises(ValueError, match="no key 'test'"):
        data.binarized_mnist(path, split="test")


def test_binarized_mnist_bad_contents(tmp_path):
    path = tmp_path / "bm.npz"
    np.savez(path, train=np.zeros((2, 100), np.uint8), valid=np.full((2, 784), 3, np.uint8))
    with pytest.raises(ValueError, match=r"\(2, 100\)"):
        data.binarized_mnist(path, split="train")
    with pytest.raises(ValueError, match="0 or 1"):
        data.binarized_mnist(path, split="valid")
    empty = tmp_path / "binarized_mnist_test.amat"
    empty.write_text("\n")
    with pytest.raises(ValueError, match="empty"):
        data.binarized_mnist(empty, split="test")


@pytest.mark.skipif(not SHARED_MNIST.is_file(), reason=f"shared data file {SHARED_MNIST} is absent")
def test_binarized_mnist_shared_file():
    x = data.binarized_mnist(SHARED_MNIST, split="test")
    assert x.shape == (10000, 784)
    assert x.dtype == np.float32
    assert abs(float(x.mean()) - 0.1325) < 0.001


# ---------------------------------------------------------------- MNIST IDX


def _idx_images(a: np.ndarray, magic: int = 2051) -> bytes:
    return struct.pack(">iiii", magic, *a.shape) + a.astype(np.uint8).tobytes()


def _idx_labels(y: np.ndarray, magic: int = 2049) -> bytes:
    return struct.pack(">ii", magic, len(y)) + y.astype(np.uint8).tobytes()


@pytest.fixture
def idx_pair():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=5, dtype=np.uint8)
    return images, labels


@pytest.mark.parametrize("zipped", [False, True])
def test_mnist_idx_round_trip(tmp_path, idx_pair, zipped):
    images, labels = idx_pair
    suffix = ".gz" if zipped else ""
    pack = gzip.compress if zipped else (lambda b: b)
    img_path = tmp_path / f"images-idx3-ubyte{suffix}"
    lab_path = tmp_path / f"labels-idx1-ubyte{suffix}"
    img_path.write_bytes(pack(_idx_images(images)))
    lab_path.write_bytes(pack(_idx_labels(labels)))

    x = data.mnist_idx(img_path)
    assert x.dtype == np.uint8 and x.shape == (5, 784)
    np.testing.assert_array_equal(x, images.reshape(5, 784))
    x[0, 0] = 0  # results are writable copies

    x2, y = data.mnist_idx(str(img_path), str(lab_path))
    np.testing.assert_array_equal(x2, images.reshape(5, 784))
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, labels)


def test_mnist_idx_gzip_detected_by_magic_not_name(tmp_path, idx_pair):
    images, _ = idx_pair
    path = tmp_path / "images-idx3-ubyte"  # gzipped but without .gz
    path.write_bytes(gzip.compress(_idx_images(images)))
    np.testing.assert_array_equal(data.mnist_idx(path), images.reshape(5, 784))


def test_mnist_idx_bad_magic(tmp_path, idx_pair):
    images, labels = idx_pair
    img_path, lab_path = tmp_path / "img", tmp_path / "lab"
    img_path.write_bytes(_idx_images(images, magic=2049))
    with pytest.raises(ValueError, match="magic number 2049; expected 2051"):
        data.mnist_idx(img_path)
    img_path.write_bytes(_idx_images(images))
    lab_path.write_bytes(_idx_labels(labels, magic=2051))
    with pytest.raises(ValueError, match="magic number 2051; expected 2049"):
        data.mnist_idx(img_path, lab_path)


def test_mnist_idx_truncated_and_mismatched(tmp_path, idx_pair):
    images, labels = idx_pair
    img_path, lab_path = tmp_path / "img", tmp_path / "lab"
    img_path.write_bytes(_idx_images(images)[:-10])
    with pytest.raises(ValueError, match="header promises"):
        data.mnist_idx(img_path)
    img_path.write_bytes(_idx_images(images))
    lab_path.write_bytes(_idx_labels(labels[:3]))
    with pytest.raises(ValueError, match="5 images but .* 3 labels"):
        data.mnist_idx(img_path, lab_path)
    with pytest.raises(FileNotFoundError, match="missing"):
        data.mnist_idx(tmp_path / "missing")


# ---------------------------------------------------------------- registry


def test_registry_holds_every_loader():
    expected = {
        "digits",
        "breast_cancer",
        "iris",
        "wine",
        "moons",
        "circles",
        "eight_gaussians",
        "checkerboard",
        "spirals",
        "blobs",
        "binarized_mnist",
        "mnist_idx",
        "text",
    }
    assert set(data.DATASETS) == expected
    for name, fn in data.DATASETS.items():
        assert fn is getattr(data, name)
        assert name in data.__all__


def test_load_dispatches_with_kwargs():
    np.testing.assert_array_equal(data.load("moons", n=50, seed=2), data.moons(n=50, seed=2))
    x, y = data.load("digits", kind="levels", return_labels=True)
    assert x.dtype == np.int64 and y.shape == (1797,)


def test_load_unknown_name_lists_sorted_names():
    with pytest.raises(ValueError) as info:
        data.load("cifar10")
    message = str(info.value)
    assert "cifar10" in message
    listing = ", ".join(sorted(data.DATASETS))
    assert listing in message


def test_all_names_exist():
    for name in data.__all__:
        assert hasattr(data, name), name
