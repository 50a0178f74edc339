"""The ``codec`` command line (Click). Commands only parse, call the library and print."""

from .main import cli, main

__all__ = ["cli", "main"]
