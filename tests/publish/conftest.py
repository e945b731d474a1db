"""The publication tests' fixtures (`published`, `cli`), defined in adopted.py beside the builders they use."""

from adopted import cli, published  # noqa: F401

__all__ = ["cli", "published"]
