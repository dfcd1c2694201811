"""Temporary hooks and patches, each inside a context manager that undoes it in `finally`,
for the internals a library does not return (open_clip's per-layer attention)."""
