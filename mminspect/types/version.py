"""The library's version, in one place (read by `mminspect.__version__`, reports and packaging)."""
VERSION = "0.1.0"
