"""RusChat's service engine: one package, shared by both backends (the layers are its subpackages)."""

__version__ = "0.1.0"
