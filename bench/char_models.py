"""Bits per character on the bundled corpus's test split, and the anchors they are judged by.

    .venv/bin/python bench/char_models.py [--models char_rnn] [--epochs 15] [--hidden 256]

The corpus is `gendsl.data.text()` (Python's documentation topics, frozen;
train/valid/test a contiguous 90/5/5 of 465,048 characters, 95 tokens). Every
number is in bits per test character, measured in this run:

- lzma, test alone: `lzma.compress` (xz container, preset 9 | extreme) of the
  test text, 8 * bytes / characters; also in the raw LZMA2 format, which drops
  the ~60 bytes of xz header and index.
- lzma, train+test minus train: the compressor that has read the training text,
  8 * (|C(train + test)| - |C(train)|) / characters; the preset-9 dictionary
  (64 MiB) holds all of the training text.
- unigram: the training text's character frequencies (add-one), a model with
  no context at all.

The compressors see one byte per token (the token id), i.e. exactly the text a
model sees, non-ASCII characters already folded into one token.

Models (`--models`), trained with `mle` on the training text cut into
`--seq-len` windows (the validation windows pick the best epoch) and scored
on the test text twice: in the same windows (each window's first characters
read no context), and in windows of `--long` characters with the same
parameters (a GRU's weights do not depend on the length):

- char_rnn: `gendsl.models.char_rnn(x_dim=seq_len, vocab=95, hidden=, embed=32)`,
  Adam, cosine learning rate from 3e-3, gradients clipped at norm 1, batch 64.
"""

from __future__ import annotations

import argparse
import lzma
import time

import numpy as np

from gendsl import data

PRESET = 9 | lzma.PRESET_EXTREME


def _xz(raw: bytes) -> int:
    return len(lzma.compress(raw, preset=PRESET))


def _raw(raw: bytes) -> int:
    return len(lzma.compress(raw, format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2, "preset": PRESET}]))


def anchors(corpus) -> list[tuple[str, float]]:
    """(name, bits per test character) of the compressors and the unigram model."""
    train, test = bytes(corpus.train.astype(np.uint8)), bytes(corpus.test.astype(np.uint8))
    n = len(test)
    rows = []
    for label, size in (("xz", _xz), ("raw LZMA2", _raw)):
        rows.append((f"lzma ({label}, -9e), test alone", 8 * size(test) / n))
        rows.append((f"lzma ({label}, -9e), train+test minus train", 8 * (size(train + test) - size(train)) / n))
    counts = np.bincount(corpus.train, minlength=len(corpus.vocab)) + 1.0
    rows.append(("unigram (train frequencies, add-one)", float(-np.log2(counts / counts.sum())[corpus.test].mean())))
    return rows


def _bits(fitted, windows) -> float:
    """Bits per character of ``windows`` ``(n, T)`` under ``fitted``."""
    return float(-fitted.log_prob(windows).sum() / (windows.size * np.log(2.0)))


def char_rnn(args, vocab: int) -> list[tuple[str, float, float]]:
    import gendsl.models as zoo
    from gendsl.inference.fitted import Fitted

    windows = data.text(seq_len=args.seq_len)
    model = zoo.char_rnn(x_dim=args.seq_len, vocab=vocab, hidden=args.hidden, embed=32)
    start = time.perf_counter()
    fitted = model.fit(windows.train, backend=args.backend, epochs=args.epochs, batch_size=64, lr=3e-3,
                       lr_schedule="cosine", clip_norm=1.0, seed=0, valid=windows.valid, progress=False)
    seconds = time.perf_counter() - start
    long = data.text(seq_len=args.long)
    longer = Fitted(zoo.char_rnn(x_dim=args.long, vocab=vocab, hidden=args.hidden, embed=32), args.backend,
                    fitted.params)
    tag = f"char_rnn (GRU {args.hidden}, {args.epochs} epochs, best {fitted.history.get('best_epoch')})"
    return [(f"{tag}, {args.seq_len}-character windows", _bits(fitted, windows.test), seconds),
            (f"{tag}, {args.long}-character windows", _bits(longer, long.test), seconds)]


MODELS = {"char_rnn": char_rnn}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=[], choices=sorted(MODELS))
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--long", type=int, default=1024)
    parser.add_argument("--backend", default="numpyro")
    args = parser.parse_args(argv)
    corpus = data.text()
    print(f"corpus: train {len(corpus.train):,} / valid {len(corpus.valid):,} / test {len(corpus.test):,} "
          f"characters, {len(corpus.vocab)} tokens, sha256 {data.TEXT_SHA256[:16]}...")
    print("\n| model | test bits/char | seconds |\n|---|---|---|")
    start = time.perf_counter()
    for name, bits in anchors(corpus):
        print(f"| {name} | {bits:.3f} | |")
    for name in args.models:
        for label, bits, seconds in MODELS[name](args, len(corpus.vocab)):
            print(f"| {label} | {bits:.3f} | {seconds:.0f} (train) |", flush=True)
    print(f"\n(run took {time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
