"""The web layer: app factory, model registry, safe image decoding, thin routers."""
