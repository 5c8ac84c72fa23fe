"""``python -m stereo_ppl`` runs the command line."""

from .cli import main

main()
