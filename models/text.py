"""Character-level language models: a token sequence as one autoregressive chain.

``p(x_1..x_T) = prod_t p(x_t | x_<t)``, each conditional a Categorical over the
vocabulary, is the same chain rule as FVSBN, NADE and MADE with a recurrent
conditioner: :class:`gendsl.nn.GRU` reads the tokens so far and gives the
logits of the next one. It is one ``dist.Autoregressive`` site, scored in one
teacher-forced pass and sampled token by token carrying the GRU's state.
The bundled corpus is :func:`gendsl.data.text` (``seq_len=`` windows).
"""

from __future__ import annotations

import gendsl as gd
from gendsl import dist, nn

__all__ = ["char_rnn", "TEXT_FIT_DEFAULTS"]

#: ``char_rnn``'s ``fit`` defaults (``factory.fit_defaults``): Adam at 3e-3 in
#: batches of 64 windows, as Karpathy's char-rnn trains.
TEXT_FIT_DEFAULTS = {"lr": 3e-3, "batch_size": 64}


@gd.model
def char_rnn(x_dim=64, vocab=95, hidden=256, embed=32):
    """Character-level RNN: ``x_t | x_<t ~ Categorical(logits = W h_t + b)``,
    ``h_t = GRU(h_{t-1}, embed(x_{t-1}))`` over windows of ``x_dim`` tokens.

    Args:
        x_dim: the sequence (window) length, e.g. ``gendsl.data.text(seq_len=64)``'s 64.
        vocab: tokens (95 for the bundled corpus: ``len(gendsl.data.text().vocab)``).
        hidden: GRU state units.
        embed: the token embedding's width.

    Default objective: ``mle``; fit defaults :data:`TEXT_FIT_DEFAULTS`.

    References:
        Cho et al., "Learning Phrase Representations using RNN Encoder-Decoder for
        Statistical Machine Translation", EMNLP 2014 (the GRU).
        Sutskever, Martens & Hinton, "Generating Text with Recurrent Neural
        Networks", ICML 2011; Karpathy, "The Unreasonable Effectiveness of Recurrent
        Neural Networks", 2015 (char-rnn).

    Example:
        >>> import gendsl.models as zoo
        >>> zoo.char_rnn(x_dim=16, vocab=5, hidden=8).ir["x"].shape
        (N_data, 16)
    """
    rnn = nn.GRU("rnn", vocab, hidden, x_dim=x_dim, embed=embed)
    with gd.plate("data"):
        gd.observe("x", dist.Autoregressive(rnn, "Categorical"))


char_rnn.default_objective = "mle"
char_rnn.fit_defaults = TEXT_FIT_DEFAULTS
