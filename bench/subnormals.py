"""IWAE-50 training-step time on the CPU with PyTorch's subnormal floats kept
or flushed to zero, side by side in one run.

    .venv/bin/python bench/subnormals.py --data ../shared/data/binarized_mnist.npz

Model: Burda et al.'s MNIST VAE (784-200-200-(2x50) tanh encoder,
50-200-200-784 tanh decoder, Bernoulli likelihood) trained with the IWAE bound,
k=50, batch 100, Adam lr 1e-3. Implementations:

- torch:       a hand-written PyTorch IWAE step (with the fused Adam gendsl uses)
- gendsl-pyro: the step ``fit(objective="iwae", k=50, backend="pyro")`` runs

each timed with subnormals kept (PyTorch's default) and flushed (what
``fit(backend="pyro")`` now does, and XLA always does on the CPU). Most of
the particles' normalised importance weights are tiny, and the gradients
they scale fall below float32's smallest normal number; x86 CPUs take dozens
of cycles for each operation on such numbers. Rounds interleave the four;
the median per implementation is reported with its ratio to the same code
with subnormals kept.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import _timing  # noqa: E402

K = 50


def torch_iwae(device, k=K):
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.manual_seed(0)
    enc = nn.Sequential(nn.Linear(784, 200), nn.Tanh(), nn.Linear(200, 200), nn.Tanh(), nn.Linear(200, 100)).to(device)
    dec = nn.Sequential(nn.Linear(50, 200), nn.Tanh(), nn.Linear(200, 200), nn.Tanh(), nn.Linear(200, 784)).to(device)
    half_log_2pi = 0.5 * math.log(2 * math.pi)

    def loss(x):
        loc, log_scale = enc(x).chunk(2, -1)
        eps = torch.randn((k,) + loc.shape, device=loc.device)
        z = loc + log_scale.exp() * eps
        log_px = -F.binary_cross_entropy_with_logits(dec(z), x.expand(k, -1, -1), reduction="none").sum(-1)
        log_pz = -(0.5 * z**2 + half_log_2pi).sum(-1)
        log_qz = -(0.5 * eps**2 + log_scale + half_log_2pi).sum(-1)
        bound = torch.logsumexp(log_px + log_pz - log_qz, 0) - math.log(k)
        return -bound.mean()

    return loss, [*enc.parameters(), *dec.parameters()]


def with_subnormals(step, flush: bool):
    import torch

    def run(idx):
        torch.set_flush_denormal(flush)
        return step(idx)

    return run


def main():
    parser = _timing.parser(__doc__)
    parser.set_defaults(rounds=5, steps=10)
    args = parser.parse_args()

    import platform

    import torch

    import gendsl.inference as inference
    import gendsl.models as zoo
    from gendsl.data import binarized_mnist

    if args.threads:
        torch.set_num_threads(args.threads)
    x = binarized_mnist(args.data, "train")
    model = zoo.vae(x_dim=784, z_dim=50, hidden=(200, 200), activation="tanh")
    impls = {}
    for flush, tag in ((False, "kept"), (True, "flushed")):
        # like for like: gendsl's Pyro backend uses the fused Adam
        impls[f"torch, {tag}"] = with_subnormals(_timing.torch_loop(torch_iwae, x, 1e-3, "cpu", fused=True), flush)
        gendsl = _timing.gendsl_step(model, inference.IWAE(k=K), x, 1e-3, "pyro", "cpu")
        impls[f"gendsl-pyro, {tag}"] = with_subnormals(gendsl, flush)
    med = _timing.median_step_ms(impls, [list(impls)], len(x), args.batch, args.rounds, args.steps)
    torch.set_flush_denormal(False)
    print(f"cpu: {platform.processor() or 'cpu'}; torch threads {torch.get_num_threads()}; "
          f"IWAE k={K}, batch {args.batch}; {args.rounds * args.steps} timed steps each")
    print("| implementation | subnormals | median step ms | kept / flushed |")
    print("|---|---|---|---|")
    for name in ("torch", "gendsl-pyro"):
        kept, flushed = med[f"{name}, kept"], med[f"{name}, flushed"]
        print(f"| {name} | kept | {kept:.1f} | |")
        print(f"| {name} | flushed | {flushed:.1f} | {kept / flushed:.2f}x |")
    print(f"gendsl-pyro / torch, flushed: {med['gendsl-pyro, flushed'] / med['torch, flushed']:.3f}")


if __name__ == "__main__":
    main()
