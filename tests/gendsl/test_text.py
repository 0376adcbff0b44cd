"""Tests for gendsl.data.text: the frozen character-level corpus and its split."""

from __future__ import annotations

import fnmatch
import hashlib
import tomllib
from pathlib import Path

import numpy as np
import pytest

from gendsl import cli, data

ROOT = Path(__file__).resolve().parents[2]


def test_corpus_bytes_are_the_frozen_ones():
    raw = data.text_bytes()
    assert len(raw) == 466_195
    assert hashlib.sha256(raw).hexdigest() == data.TEXT_SHA256 == (
        "2a95af4ac93f5b719944030ce3769070ddf827d847cba42192afa8da989e5dc4")
    assert raw.decode("utf-8").startswith('The "assert" statement')


def test_corpus_file_ships_as_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["gendsl.data"]
    assert any(fnmatch.fnmatch("pydoc_topics.txt.xz", p) for p in patterns)
    assert (ROOT / "gendsl" / "data" / "pydoc_topics.txt.xz").stat().st_size < 200_000


def test_split_sizes_are_a_contiguous_90_5_5():
    corpus = data.text()
    sizes = [len(p) for p in corpus[:3]]
    assert sizes == [418_543, 23_253, 23_252]
    assert sum(sizes) == len(data.text_bytes().decode("utf-8"))
    for part in corpus[:3]:
        assert part.dtype == np.int64 and part.ndim == 1
        assert part.min() >= 0 and part.max() < len(corpus.vocab)


def test_vocabulary_is_sorted_ascii_and_one_unknown():
    vocab = data.text().vocab
    assert len(vocab) == 95
    assert list(vocab) == sorted(set(vocab))
    assert vocab[-1] == data.TEXT_UNKNOWN
    assert all(ord(c) < 128 for c in vocab[:-1]) and "\n" in vocab and " " in vocab


def test_tokens_round_trip_to_the_text():
    corpus = data.text()
    original = data.text_bytes().decode("utf-8")
    mapped = "".join(c if ord(c) < 128 else data.TEXT_UNKNOWN for c in original)
    joined = "".join(corpus.decode(p) for p in corpus[:3])
    assert joined == mapped
    assert sum(c != d for c, d in zip(original, joined)) == 575  # the non-ASCII characters only
    np.testing.assert_array_equal(corpus.encode(corpus.decode(corpus.test)), corpus.test)
    assert corpus.decode(corpus.encode("with x:\n")) == "with x:\n"
    assert corpus.decode(corpus.encode("\u2014")) == data.TEXT_UNKNOWN


def test_windows_shape_and_order():
    flat, windows = data.text(), data.text(seq_len=100)
    for part, cut in zip(flat[:3], windows[:3]):
        assert cut.shape == (len(part) // 100, 100) and cut.dtype == np.int64
        np.testing.assert_array_equal(cut.reshape(-1), part[: cut.size])
    assert windows.vocab == flat.vocab


@pytest.mark.parametrize("seq_len", [0, -3, 2.5, True])
def test_bad_seq_len_is_refused(seq_len):
    with pytest.raises(ValueError, match="seq_len must be a positive integer"):
        data.text(seq_len=seq_len)


def test_arrays_are_fresh():
    corpus = data.text()
    corpus.train[:] = -1
    assert data.text().train.min() == 0


def test_registered_for_load_and_the_cli():
    assert data.DATASETS["text"] is data.text
    np.testing.assert_array_equal(data.load("text", seq_len=8).valid, data.text(seq_len=8).valid)
    np.testing.assert_array_equal(cli.load_data("text"), data.text().train)  # the training tokens
