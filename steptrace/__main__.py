"""``python -m steptrace`` runs the command line."""

from steptrace.cli import main

main()
