"""The Ray backend of dataset mode: Ray Data sends batches of rows to actors, each of which
loads the model once and runs the same batch function as the local backend
(api/dataset_batch.py). Imported only when backend="ray" is asked for.

On one machine (Ray not started yet) Ray is started on loopback only, and stopped again:
without _node_ip_address it binds the machine's network interface. With 2 CPUs one actor
(concurrency=1) leaves a CPU for Ray's read tasks; two one-CPU actors left none, and the job
hung. To use an existing cluster, call ray.init(address=...) yourself first: then this
backend uses it as it is, leaves it running, and ray_options (e.g. {"concurrency": 4,
"num_gpus": 1}) go to map_batches.
"""
from __future__ import annotations

import logging

import pandas as pd

from ..types import InputError
from .dataset_batch import DatasetSpec, explain_batch

LOCAL_INIT = {"num_cpus": 2, "include_dashboard": False, "_node_ip_address": "127.0.0.1"}


class RowExplainer:
    """A Ray Data actor: the model is loaded once, in __init__, then every batch goes
    through explain_batch."""

    def __init__(self, spec: DatasetSpec):
        from ..models import load
        self.spec = spec
        self.adapter = load(spec.model)

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        rows = [{k: (None if v is None or v != v else v) for k, v in r.items()}   # NaN -> None
                for r in batch.to_dict("records")]
        return pd.DataFrame.from_records(explain_batch(self.adapter, rows, self.spec))


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise InputError("backend='ray' needs Ray Data: pip install 'ray[data]' (or "
                         "pip install 'mminspect[ray]').") from None
    return ray


def run_ray(rows: pd.DataFrame, spec, batch_size: int, clock, emit,
            ray_options: dict | None = None) -> None:
    """Explain `rows` with Ray Data; emit(frame) for each finished batch, in row order."""
    ray = _import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(**LOCAL_INIT, log_to_driver=False, logging_level=logging.WARNING)
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = False
        options = {"num_cpus": 1} | dict(ray_options or {})
        if "concurrency" not in options and "compute" not in options:
            # one actor (Ray 2.51+ spells concurrency=1 this way)
            options["compute"] = ray.data.ActorPoolStrategy(size=1)
        ds = ray.data.from_pandas(rows.astype(object).where(rows.notna(), None))
        out = ds.map_batches(RowExplainer, fn_constructor_args=(spec,), batch_size=batch_size,
                             batch_format="pandas", **options)
        clock.check()
        for frame in out.iter_batches(batch_format="pandas", batch_size=None):
            emit(frame)
            clock.advance(len(frame))
            if clock.done < clock.n:
                clock.check()
    finally:
        if started_here:
            ray.shutdown()
