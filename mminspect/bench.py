"""`python -m mminspect.bench`: the benchmark program, kept at this short name for the README
and the issues; it lives in `mminspect/lab/bench.py`."""
import sys

from mminspect.lab.bench import main

if __name__ == "__main__":
    sys.exit(main())
