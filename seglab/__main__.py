"""``python -m seglab``."""
import sys

from .cli import main

sys.exit(main())
