"""A run directory read into pandas, numpy and Neo: metrics, summary, weights, traces."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import List, Optional, Union

from . import _native
from ._native import BspSimError

EVENT_COLUMNS = ["epoch", "sample", "time", "layer", "neuron", "wave", "value"]
STATE_COLUMNS = [
    "epoch", "sample", "time", "layer", "neuron", "wave", "signal", "J", "S", "M", "H", "T",
]


def open_run(path: Union[str, "os.PathLike[str]"]) -> "Run":
    """The :class:`Run` of a finished (or interrupted) run directory written by
    ``bsp-sim run``, ``bsp-sim trace`` or :meth:`Model.run`. Given a folder of run
    directories (e.g. ``traces``), it opens the one run it holds or lists them."""
    p = Path(path)
    if not p.is_dir():
        raise BspSimError(f"{p}: no such run directory; pass a directory written by bsp-sim run")
    if (p / "summary.json").exists() or (p / "trace" / "manifest.json").exists():
        return Run(p)
    runs = sorted(
        d for d in p.iterdir()
        if d.is_dir() and ((d / "summary.json").exists() or (d / "trace" / "manifest.json").exists())
    )
    if len(runs) == 1:
        return Run(runs[0])
    if not runs:
        raise BspSimError(
            f"{p}: not a run directory (no summary.json) and it holds none; "
            "pass a directory written by bsp-sim run"
        )
    listing = "\n  ".join(str(r) for r in runs)
    raise BspSimError(f"{p} holds {len(runs)} runs; open one of them:\n  {listing}")


class Run:
    """The outputs of one run: ``metrics``, ``summary``, ``weights()``, ``predictions()``,
    ``confusion()``, ``evaluate()``, ``events()``, ``states()``, ``spike_trains()``; ``dir``
    is the run directory."""

    def __init__(self, run_dir: Union[str, "os.PathLike[str]"]) -> None:
        self.dir = Path(run_dir)
        self._metrics = None

    def __repr__(self) -> str:
        return f"<bsp_sim.Run {str(self.dir)!r}>"

    @property
    def metrics(self):
        """``metrics.csv`` as a ``pandas.DataFrame``, one row per epoch."""
        import pandas as pd

        path = self.dir / "metrics.csv"
        if not path.exists():
            return pd.DataFrame()
        return pd.read_csv(path)

    @property
    def summary(self) -> dict:
        """``summary.json``: status, seed, threads, wall time, final and best accuracy."""
        path = self.dir / "summary.json"
        if not path.exists():
            raise BspSimError(f"{path}: missing; is {self.dir} a run directory?")
        return json.loads(path.read_text())

    @property
    def model_yaml(self) -> str:
        """The model the run trained (with its overrides), as YAML."""
        return (self.dir / "model.yaml").read_text()

    def weights(self) -> list:
        """The coefficients C of the run's checkpoint: one ``numpy.float32`` array of
        shape ``[post, pre]`` per layer pair (input side first); an absent synapse
        (one-to-one or random wiring) holds 0."""
        return list(_native.checkpoint_weights(os.fspath(self.dir)))

    def predictions(self):
        """``predictions.csv`` as a ``pandas.DataFrame``: each test sample's ``label`` and
        ``predicted`` class at the last complete epoch's evaluation (``epoch``, ``sample``
        the test-set index). Empty for a run without it (a trace)."""
        import pandas as pd

        path = self.dir / "predictions.csv"
        if not path.exists():
            return pd.DataFrame(columns=["epoch", "sample", "label", "predicted"])
        return pd.read_csv(path)

    def evaluate(
        self,
        test_limit: Optional[int] = None,
        threads: Optional[int] = None,
        data: Optional[Union[str, "os.PathLike[str]"]] = None,
        offline: bool = False,
    ) -> dict:
        """Evaluates the run's checkpoint on its model's test set, as ``bsp-sim eval``
        (``test_limit`` defaults to the run's own): a dict with ``epochs``, ``accuracy``,
        ``loss`` (mean), ``correct``, ``samples`` and ``predictions``, a
        ``pandas.DataFrame`` with the columns of :meth:`predictions`."""
        import pandas as pd

        epochs, correct, samples, loss, rows = _native.evaluate_checkpoint(
            os.fspath(self.dir),
            test_limit=test_limit,
            threads=threads,
            data=None if data is None else os.fspath(data),
            offline=offline,
        )
        predictions = pd.DataFrame(rows, columns=["sample", "label", "predicted"])
        predictions.insert(0, "epoch", epochs)
        return {
            "epochs": epochs,
            "accuracy": correct / samples,
            "loss": loss,
            "correct": correct,
            "samples": samples,
            "predictions": predictions,
        }

    def confusion(self):
        """The confusion matrix of :meth:`predictions` as a ``pandas.DataFrame`` of counts,
        rows the true class, columns the predicted class (every class seen in either)."""
        import pandas as pd

        p = self.predictions()
        classes = sorted(set(p["label"]).union(p["predicted"]))
        return (
            pd.crosstab(p["label"], p["predicted"])
            .reindex(index=classes, columns=classes, fill_value=0)
            .rename_axis(index="label", columns="predicted")
        )

    def _trace_dir(self) -> Optional[Path]:
        d = self.dir / "trace"
        return d if d.is_dir() else None

    def manifest(self) -> dict:
        """``trace/manifest.json`` (the recording's selection, time convention, counts);
        an empty dict when the run recorded nothing."""
        d = self._trace_dir()
        if d is None or not (d / "manifest.json").exists():
            return {}
        return json.loads((d / "manifest.json").read_text())

    def _read(self, name: str, columns: List[str]):
        import pandas as pd

        d = self._trace_dir()
        if d is None or not (d / name).exists():
            return pd.DataFrame(columns=columns)
        return pd.read_csv(d / name)

    def events(self):
        """``trace/events.csv``: one row per send-on-delta event (``epoch, sample, time,
        layer, neuron, wave, value``; time in model time units within a presentation,
        value D or D̂ at the event). Empty when nothing was traced."""
        return self._read("events.csv", EVENT_COLUMNS)

    def states(self):
        """``trace/states.csv``: the five elements J, S, M, H, T of the system integrated
        in each wave and its output deviation (``signal``). Empty when nothing was
        traced."""
        return self._read("states.csv", STATE_COLUMNS)

    def spike_trains(
        self,
        layer: int,
        wave: str = "forward",
        epoch: Optional[int] = None,
        sample: Optional[int] = None,
    ) -> list:
        """The events of one presentation as ``neo.SpikeTrain`` objects, one per recorded
        neuron of ``layer`` (in neuron order, empty trains included), for ``wave``
        ``"forward"`` or ``"backward"``. The presentation is ``(epoch, sample)``, by
        default the first recorded. Times are in model time units, given to Neo as
        seconds (as in ``waves.vcd``); each train's ``annotations`` hold layer, neuron,
        wave, epoch and sample, and its ``array_annotations["value"]`` the D or D̂ values."""
        if wave not in ("forward", "backward"):
            raise BspSimError(f"wave must be 'forward' or 'backward', got {wave!r}")
        manifest = self.manifest()
        if not manifest:
            raise BspSimError(
                f"{self.dir}: no trace recorded; run with trace=True "
                "(or bsp-sim run --trace)"
            )
        layers = manifest["layers"]
        neurons = manifest["selection"]["neurons"]
        recorded = [l for l, spec in enumerate(neurons) if spec]
        if layer not in recorded:
            raise BspSimError(
                f"layer {layer} was not recorded; recorded layers: "
                + ", ".join(map(str, recorded))
            )
        ev = self.events()
        if ev.empty:
            raise BspSimError(f"{self.dir}: the trace holds no events")
        presentations = ev[["epoch", "sample"]].drop_duplicates()
        if epoch is None and sample is None:
            epoch, sample = (int(x) for x in presentations.iloc[0])
        else:
            pick = presentations
            if epoch is not None:
                pick = pick[pick.epoch == epoch]
            if sample is not None:
                pick = pick[pick["sample"] == sample]
            if pick.empty:
                listing = ", ".join(
                    f"epoch {e} sample {s}" for e, s in presentations.itertuples(index=False)
                )
                raise BspSimError(
                    f"no events recorded for epoch {epoch}, sample {sample}; "
                    f"recorded: {listing}"
                )
            epoch, sample = (int(x) for x in pick.iloc[0])
        try:
            import neo
            import quantities as pq
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError(
                "Run.spike_trains needs the neo package: pip install neo "
                "(events() returns the same events as a pandas DataFrame without it)"
            ) from e
        time = manifest["time"]
        t_stop = time["forward_window"] + time["backward_window"]
        sel = ev[(ev.epoch == epoch) & (ev["sample"] == sample) & (ev.layer == layer) & (ev.wave == wave)]
        trains = []
        for n in _expand(neurons[layer], layers[layer]):
            rows = sel[sel.neuron == n].sort_values("time")
            st = neo.SpikeTrain(
                rows.time.to_numpy(dtype=float) * pq.s,
                t_start=0.0 * pq.s,
                t_stop=t_stop * pq.s,
                name=f"layer{layer}.n{n}.{wave}",
                array_annotations={"value": rows.value.to_numpy(dtype=float)},
                layer=layer,
                neuron=n,
                wave=wave,
                epoch=epoch,
                sample=sample,
            )
            trains.append(st)
        return trains


def _expand(spec: str, size: int) -> List[int]:
    """Neuron ids of a manifest's per-layer selection (``"0-9"``, ``"1,5,7-8"``, ``"all"``)."""
    spec = str(spec).strip()
    if spec in ("", "none"):
        return []
    if spec == "all":
        return list(range(size))
    out: List[int] = []
    for part in spec.split(","):
        part = part.strip()
        if "-" in part:
            a, b = part.split("-", 1)
            out.extend(range(int(a), int(b) + 1))
        elif part:
            out.append(int(part))
    return [n for n in out if n < size]
