"""``python -m edgeinfer`` runs the CLI."""

from edgeinfer.cli import main

main()
