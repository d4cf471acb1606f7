"""bsp-sim from Python: networks of five-element ODE neurons trained by Backward Signal
Propagation.

The package calls the bsp-sim library itself (a compiled extension, no subprocess)::

    import bsp_sim
    model = bsp_sim.Model.load("models/demo.yaml", overrides={"learning.lr": 0.01})
    run = model.run(epochs=1, out="traces", threads=2)
    run.metrics          # pandas.DataFrame, one row per epoch (metrics.csv)
    run.summary          # dict (summary.json)
    run.weights()        # list of float32 [post, pre] arrays, one per layer pair
    run.events()         # pandas.DataFrame (trace/events.csv; empty if not traced)
    run.states()         # pandas.DataFrame (trace/states.csv; empty if not traced)
    run.spike_trains(layer=1, wave="forward")   # list of neo.SpikeTrain (needs neo)
    bsp_sim.open_run("traces/<run-id>")
    bsp_sim.compare(model, epochs=1)            # the compare table, a DataFrame

Errors are raised as :class:`BspSimError` with the message the ``bsp-sim`` command
prints; Ctrl-C stops a run after the current minibatch and raises ``KeyboardInterrupt``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from . import _native
from ._native import BspSimError
from ._progress import progress_callback
from ._run import Run, open_run

__all__ = ["BspSimError", "Model", "Run", "open_run", "compare", "__version__"]
__version__ = _native.__version__

PathLike = Union[str, "os.PathLike[str]"]


def _yaml_value(value: Any) -> str:
    """An override's value as YAML text: strings as they are (so ``"async"`` or
    ``"{kind: constant}"`` read as in the file), everything else as JSON, which YAML
    reads with its type (numbers, booleans, None, lists, dicts)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Path):
        return json.dumps(str(value))
    if hasattr(value, "item") and not isinstance(value, (list, dict, tuple)):
        value = value.item()  # numpy scalars
    return json.dumps(value)


class Model:
    """A validated model file (see ``models/mnist.yaml`` for every field)."""

    def __init__(self, native: "_native.Model") -> None:
        self._native = native

    @classmethod
    def load(cls, path: PathLike, overrides: Optional[Mapping[str, Any]] = None) -> "Model":
        """Read and validate a model file. ``overrides`` maps field paths of the file
        (``"learning.lr"``, ``"engine"``, ``"async.delay"``) to values, each typed and
        checked as if it were in the file (as ``bsp-sim run --set PATH=VALUE``)."""
        pairs = [(str(k), _yaml_value(v)) for k, v in (overrides or {}).items()]
        return cls(_native.Model.load(os.fspath(path), pairs))

    name = property(lambda self: self._native.name, doc="the model's name")
    path = property(lambda self: self._native.path, doc="the model file")
    seed = property(lambda self: self._native.seed, doc="the seed of every random draw")
    engine = property(lambda self: self._native.engine, doc="'sync' or 'async'")
    layers = property(lambda self: list(self._native.layers), doc="neurons per layer")
    epochs = property(lambda self: self._native.epochs, doc="planned epochs")
    lr = property(lambda self: self._native.lr, doc="learning rate of the first epoch")
    yaml = property(lambda self: self._native.yaml, doc="the model (with overrides) as YAML")

    def describe(self) -> str:
        """What ``bsp-sim validate`` prints: the network the model builds."""
        return self._native.describe()

    def __repr__(self) -> str:
        return f"<bsp_sim.Model {self.name!r} {self.layers} engine={self.engine}>"

    def run(
        self,
        epochs: Optional[int] = None,
        out: PathLike = "traces",
        threads: Optional[int] = None,
        train_limit: Optional[int] = None,
        test_limit: Optional[int] = None,
        seed: Optional[int] = None,
        trace: Union[None, bool, str] = None,
        progress: bool = True,
    ) -> Run:
        """Train and evaluate after every epoch (as ``bsp-sim run``); the outputs go to a
        new run directory under ``out``. ``trace=True`` records the default trace, a
        string is a trace spec (``"layers=1;waves=backward"``), ``False`` records nothing
        even if the model has a ``trace:`` section. ``progress`` shows a bar per epoch
        (tqdm when installed, in a terminal or a notebook)."""
        spec = None
        if trace is True:
            spec = ""
        elif isinstance(trace, str):
            spec = trace
        run_dir = _native.run_model(
            self._native,
            epochs=epochs,
            out=os.fspath(out),
            threads=threads,
            train_limit=train_limit,
            test_limit=test_limit,
            seed=seed,
            trace=spec,
            no_trace=trace is False,
            progress=progress_callback() if progress else None,
        )
        return Run(run_dir)


def compare(
    model: Model,
    epochs: Optional[int] = None,
    out: PathLike = "traces",
    threads: Optional[int] = None,
    train_limit: Optional[int] = None,
    test_limit: Optional[int] = None,
    seed: Optional[int] = None,
    progress: bool = True,
):
    """Train ``model`` on the synchronous and the asynchronous engine with the same seed
    and data (as ``bsp-sim compare``) and return the table as a ``pandas.DataFrame``:
    one row per engine and epoch, with the run's time, events, deliveries, updates and
    staleness. ``df.attrs["dir"]`` is the comparison directory."""
    import pandas as pd

    text = _native.compare_model(
        model._native,
        epochs=epochs,
        out=os.fspath(out),
        threads=threads,
        train_limit=train_limit,
        test_limit=test_limit,
        seed=seed,
        progress=progress_callback() if progress else None,
    )
    cmp = json.loads(text)
    rows = []
    for row in cmp["rows"]:
        counters = row["counters"]
        staleness = (
            counters["staleness_sum"] / counters["staleness_count"]
            if counters.get("staleness_count")
            else 0.0
        )
        for epoch, acc in enumerate(row["test_accuracy"], start=1):
            rows.append(
                {
                    "label": row["label"],
                    "engine": row["engine"],
                    "epoch": epoch,
                    "test_accuracy": acc,
                    "theta": row["theta"],
                    "jitter": row["jitter"],
                    "sample_interval": row["sample_interval"],
                    "train_seconds": row["train_seconds"],
                    "wall_seconds": row["wall_seconds"],
                    "events": counters["events"],
                    "deliveries": counters["deliveries"],
                    "synapse_updates": counters["synapse_updates"],
                    "mean_staleness": staleness,
                    "run_dir": row["run_dir"],
                }
            )
    df = pd.DataFrame(rows)
    df.attrs["dir"] = cmp["dir"]
    return df
