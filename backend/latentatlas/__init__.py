"""Latent Atlas: explore the latent spaces of disentangled representation models."""

__version__ = "0.1.0"
