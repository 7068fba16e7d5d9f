"""tito: the TinyTorch course tool. Each command is a thin layer over a small library module."""

__version__ = "0.1.0"
