"""The bundled character-level text corpus: Python's documentation topics, frozen.

``pydoc_data/topics.py`` ships with every CPython install and holds the text
that ``help("with")`` prints, one string per topic. The topics of CPython
3.11.7 were joined once, in sorted key order with ``"\\n"`` between them,
UTF-8 encoded and written with ``lzma.compress(data, preset=9 |
lzma.PRESET_EXTREME)`` to ``pydoc_topics.txt.xz`` beside this file, so every
machine reads the same 466,195 bytes (SHA-256 :data:`TEXT_SHA256`) whatever
its Python version. The text is the Python documentation, under the PSF
licence.

Tokens are characters. The corpus is almost all ASCII; its few non-ASCII
characters (typographic quotes and dashes, 9 kinds in all, 575 occurrences)
become one token, :data:`TEXT_UNKNOWN`, so the vocabulary stays small (95).
"""

from __future__ import annotations

import functools
import hashlib
import lzma
from importlib import resources
from typing import NamedTuple

import numpy as np

from gendsl.errors import DataError

from ._registry import _register

#: The frozen corpus file inside the package.
TEXT_FILE = "pydoc_topics.txt.xz"
#: SHA-256 of the corpus bytes (UTF-8, after decompression).
TEXT_SHA256 = "2a95af4ac93f5b719944030ce3769070ddf827d847cba42192afa8da989e5dc4"
#: The character every non-ASCII character of the corpus is mapped to.
TEXT_UNKNOWN = "\ufffd"
#: The contiguous split, as fractions of the characters: train, valid, test.
TEXT_SPLIT = (0.90, 0.05, 0.05)


class TextCorpus(NamedTuple):
    """The corpus split into token arrays, and the vocabulary that decodes them.

    Attributes:
        train: int64 tokens, ``(n_chars,)``, or ``(n, seq_len)`` windows.
        valid: Same, for the validation part.
        test: Same, for the test part.
        vocab: The sorted characters; token ``i`` is ``vocab[i]``.
    """

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    vocab: str

    def decode(self, tokens) -> str:
        """The text of a token array (every row in turn when it is 2-D).

        Example:
            >>> corpus = text()
            >>> corpus.decode(corpus.train[:20])
            'The "assert" stateme'
        """
        lookup = np.array(list(self.vocab))
        return "".join(lookup[np.asarray(tokens, dtype=np.int64).reshape(-1)])

    def encode(self, string: str) -> np.ndarray:
        """The int64 tokens of ``string``; characters outside the vocabulary raise ``DataError``."""
        index = {c: i for i, c in enumerate(self.vocab)}
        mapped = _ascii(string)
        missing = sorted(set(mapped) - set(index))
        if missing:
            raise DataError(f"characters {missing!r} are not in the corpus vocabulary")
        return np.array([index[c] for c in mapped], dtype=np.int64)


def _ascii(string: str) -> str:
    """``string`` with every non-ASCII character replaced by :data:`TEXT_UNKNOWN`."""
    return "".join(c if ord(c) < 128 else TEXT_UNKNOWN for c in string)


@functools.cache
def text_bytes() -> bytes:
    """The frozen corpus, exactly as stored (UTF-8 bytes), checked against :data:`TEXT_SHA256`.

    Example:
        >>> len(text_bytes())
        466195
    """
    raw = lzma.decompress(resources.files(__package__).joinpath(TEXT_FILE).read_bytes())
    if hashlib.sha256(raw).hexdigest() != TEXT_SHA256:
        raise DataError(f"the bundled corpus {TEXT_FILE} is corrupt (its SHA-256 is not {TEXT_SHA256}); "
                        f"reinstall gendsl")
    return raw


@functools.cache
def _tokens() -> tuple[np.ndarray, str]:
    """All tokens of the corpus (read-only) and the vocabulary, once per process."""
    chars = _ascii(text_bytes().decode("utf-8"))
    vocab = "".join(sorted(set(chars)))
    codes = np.frombuffer(chars.encode("utf-32-le"), dtype=np.uint32)
    lookup = np.zeros(max(map(ord, vocab)) + 1, dtype=np.int64)
    lookup[[ord(c) for c in vocab]] = np.arange(len(vocab))
    tokens = lookup[codes]
    tokens.setflags(write=False)
    return tokens, vocab


def _windows(tokens: np.ndarray, seq_len: int | None) -> np.ndarray:
    """A fresh copy of ``tokens``, or its consecutive non-overlapping ``(n, seq_len)`` windows (tail dropped)."""
    if seq_len is None:
        return tokens.copy()
    n = len(tokens) // seq_len
    return tokens[: n * seq_len].reshape(n, seq_len).copy()


@_register("text")
def text(seq_len: int | None = None) -> TextCorpus:
    """The bundled character-level corpus (Python's documentation topics), split 90/5/5.

    The split is contiguous over the characters (train is the first 90%), so
    the test text was never seen, even in part, in training.

    Args:
        seq_len: None for one int64 token per character, ``(n_chars,)``;
            else each part cut into consecutive non-overlapping windows,
            ``(n, seq_len)``, its last partial window dropped.

    Returns:
        A :class:`TextCorpus` ``(train, valid, test, vocab)``; ``vocab`` is
        the sorted characters (non-ASCII ones mapped to
        :data:`TEXT_UNKNOWN`), and ``corpus.decode(tokens)`` the text back.

    Raises:
        DataError: (a ``ValueError``) if ``seq_len`` is not a positive integer.

    Example:
        >>> corpus = text(seq_len=64)
        >>> corpus.train.shape, corpus.train.dtype, len(corpus.vocab)
        ((6539, 64), dtype('int64'), 95)
    """
    if seq_len is not None and (isinstance(seq_len, bool) or int(seq_len) != seq_len or seq_len < 1):
        raise DataError(f"seq_len must be a positive integer or None; got {seq_len!r}")
    tokens, vocab = _tokens()
    n = len(tokens)
    ends = np.rint(np.cumsum(TEXT_SPLIT) * n).astype(np.int64)
    ends[-1] = n
    starts = np.concatenate([[0], ends[:-1]])
    parts = [_windows(tokens[a:b], None if seq_len is None else int(seq_len)) for a, b in zip(starts, ends)]
    return TextCorpus(*parts, vocab=vocab)
