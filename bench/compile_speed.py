"""What ``fit(compile=True)`` buys the Pyro backend, objective by objective,
side by side in one run.

    .venv/bin/python bench/compile_speed.py --data ../shared/data/binarized_mnist.npz [--device cuda]

Model: Burda et al.'s MNIST VAE (784-200-200-(2x50) tanh encoder,
50-200-200-784 tanh decoder, Bernoulli likelihood), batch 100, Adam lr 1e-3.
For each objective (ELBO; IWAE with k=5 and k=50; IWAE k=50 with DReG
gradients) gendsl's step runs eagerly and compiled; for IWAE k=50 a
hand-written PyTorch step (fused Adam, as gendsl uses) runs eagerly and
compiled beside them. Rounds interleave the implementations; the median per
implementation is reported with its ratio to gendsl's eager step of the same
objective.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import _timing  # noqa: E402
from subnormals import torch_iwae  # noqa: E402


def main():
    parser = _timing.parser(__doc__)
    parser.set_defaults(rounds=4, steps=10)
    args = parser.parse_args()

    import torch

    import gendsl.inference as inference
    import gendsl.models as zoo
    from gendsl.data import binarized_mnist

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(not args.keep_subnormals)
    x = binarized_mnist(args.data, "train")
    model = zoo.vae(x_dim=784, z_dim=50, hidden=(200, 200))
    objectives = {"elbo": inference.ELBO(), "iwae k=5": inference.IWAE(k=5), "iwae k=50": inference.IWAE(k=50),
                  "iwae k=50, dreg": inference.IWAE(k=50, dreg=True)}
    impls, eager_of = {}, {}
    for label, objective in objectives.items():
        for compile in (False, True):
            name = f"gendsl-pyro, {label}{', compiled' if compile else ''}"
            impls[name] = _timing.gendsl_step(model, objective, x, 1e-3, "pyro", args.device, compile=compile)
            eager_of[name] = f"gendsl-pyro, {label}"
    for compile in (False, True):
        name = f"torch, iwae k=50{', compiled' if compile else ''}"
        impls[name] = _timing.torch_loop(torch_iwae, x, 1e-3, args.device, fused=True, compile=compile)
        eager_of[name] = "gendsl-pyro, iwae k=50"
    med = _timing.median_step_ms(impls, [list(impls)], len(x), args.batch, args.rounds, args.steps)
    print(f"device: {args.device}; torch threads {torch.get_num_threads()}; batch {args.batch}; "
          f"{args.rounds * args.steps} timed steps each")
    print("| implementation | median step ms | ratio to gendsl eager, same objective |")
    print("|---|---|---|")
    for name, ms in med.items():
        print(f"| {name} | {ms:.2f} | {ms / med[eager_of[name]]:.3f} |")
    print(f"gendsl compiled / hand-written compiled, iwae k=50: "
          f"{med['gendsl-pyro, iwae k=50, compiled'] / med['torch, iwae k=50, compiled']:.3f}")


if __name__ == "__main__":
    main()
