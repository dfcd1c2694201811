"""`python -m mminspect …` (and the `mminspect` console command): see mminspect/cli."""
import sys

from .cli import main

sys.exit(main())
