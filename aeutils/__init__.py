"""aeutils: helpers shared by the face-autoencoder notebooks and the `aeutils` command line."""

__version__ = "0.1.0"
