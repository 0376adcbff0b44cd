"""Models shared by several test files: DESIGN §1's VAE, written as a user would."""

import gendsl as gd
from gendsl import dist, nn, ops


@gd.model
def vae(x_dim=64, z_dim=8, hidden=256):
    """Variational autoencoder: z -> x."""
    decoder = nn.MLP("decoder", [z_dim, hidden, x_dim])
    with gd.plate("data"):
        z = gd.sample("z", dist.Normal(0.0, 1.0).expand([z_dim]).to_event(1))
        gd.observe("x", dist.Bernoulli(logits=decoder(z)).to_event(1))


@vae.guide
def encoder(x, x_dim=64, z_dim=8, hidden=256):
    net = nn.MLP("encoder", [x_dim, hidden, 2 * z_dim])
    loc, log_scale = ops.split(net(x), 2, axis=-1)
    with gd.plate("data"):
        gd.sample("z", dist.Normal(loc, ops.exp(log_scale)).to_event(1))
