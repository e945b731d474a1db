"""The command line: `mailflow init | check | run | do | status | inbox | outbox | audit | rules | units | roster | circular |
submissions | requests | journal | site | demo`.

`base` holds the typer application and what the commands share; each module below adds its
commands to it when imported, in the order `--help` lists them.
"""

# The commands register with `app` as each module is imported, in the order `--help` lists them.
# isort: off
from mailflow.cli import setup, running, listing, status, members, roster, commanding, circulars  # noqa: F401
from mailflow.cli import submissions, requests, publishing  # noqa: F401

# isort: on
from mailflow.cli.base import app, main

__all__ = ["app", "main"]
