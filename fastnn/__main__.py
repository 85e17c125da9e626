"""`python -m fastnn train ...`: the same entry point as the `fastnn` console script."""
import sys

from .cli import main

sys.exit(main())
