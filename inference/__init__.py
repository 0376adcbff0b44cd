"""Objectives, training and evaluation (``gendsl.inference``)."""

from . import metrics, objectives
from .fitted import Fitted, load
from .adversarial import Adversarial
from .denoising import Denoising
from .elbo import ELBO, IWAE
from .mle import MLE
from .objectives import OBJECTIVES, Objective, register
from .optim import Player
from .train import fit

__all__ = ["fit", "Fitted", "load", "metrics", "objectives", "Objective", "OBJECTIVES", "register", "Player", "MLE", "ELBO",
           "IWAE", "Denoising", "Adversarial"]
