"""`python -m mailflow` runs the command line."""

from mailflow.cli import main

main()
