"""The zoo: every family written in the DSL itself (``gendsl.models``).

Each entry is a model factory named in lower case; its data dimension is the
hyper-parameter ``x_dim``, its docstring cites its paper and names its
default objective (``factory.default_objective``).
"""

from .autoregressive import fvsbn, made, nade, rnade
from .dae import dae
from .diffusion import ddpm
from .flows import glow, iaf, maf, nice, realnvp
from .gan import gan
from .latent import factor_analysis, gmvae, ssvae, vae, vqvae
from .mixtures import bernoulli_mixture, gmm
from .naive_bayes import naive_bayes
from .sequences import hmm
from .text import char_rnn

__all__ = ["naive_bayes", "gmm", "bernoulli_mixture", "fvsbn", "nade", "made", "rnade",
           "vae", "ssvae", "gmvae", "vqvae", "factor_analysis", "nice", "realnvp", "maf", "iaf", "glow", "gan", "ddpm",
           "dae", "char_rnn", "hmm", "ZOO"]

# name -> factory, in the order of DESIGN §2
ZOO = {name: globals()[name] for name in __all__ if name != "ZOO"}
