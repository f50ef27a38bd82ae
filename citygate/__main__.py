"""``python -m citygate``."""

from .cli import main

main()
