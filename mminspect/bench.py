"""`python -m mminspect.bench`: the benchmark program, kept at this short name for the README;
it lives in `mminspect/lab/bench.py`, which runs from a clone of the repository (the lab
programs are not part of the installed package)."""
import sys

if __name__ == "__main__":
    try:
        from mminspect.lab.bench import main
    except ModuleNotFoundError as e:
        if e.name is None or not e.name.startswith("mminspect.lab"):
            raise
        sys.exit("The benchmark runs from a clone of the repository: the lab programs "
                 "(training, benchmarks, the load harness) are not in the installed package.")
    sys.exit(main())
