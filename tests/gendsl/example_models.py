"""Models shared by several test files: DESIGN §1's VAE and a nested-plates model."""

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


@gd.model
def nested(n_feat=5):
    with gd.plate("data"):
        mu = gd.sample("mu", dist.Normal(0.0, 1.0))
        with gd.plate("feat", n_feat):
            gd.observe("y", dist.Normal(mu, 1.0))
        gd.deterministic("mu2", mu * 2)
