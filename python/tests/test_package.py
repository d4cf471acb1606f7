"""The bsp_sim package: models with overrides, runs and their outputs, errors, compare."""

import json

import numpy as np
import pandas as pd
import pytest

import bsp_sim


def test_overrides_are_typed_and_reach_the_model(demo_path):
    base = bsp_sim.Model.load(demo_path)
    m = bsp_sim.Model.load(
        demo_path,
        overrides={"learning.lr": 0.01, "engine": "async", "network.layers": [64, 20, 10]},
    )
    assert m.lr == pytest.approx(0.01)
    assert base.lr != pytest.approx(0.01)
    assert m.engine == "async"
    assert m.layers == [64, 20, 10]
    assert "with override learning.lr=0.01" in m.yaml
    assert "synapses" in m.describe()


def test_errors_carry_the_command_line_message(demo_path, tmp_path):
    with pytest.raises(bsp_sim.BspSimError, match=r"unknown field `lrr`"):
        bsp_sim.Model.load(demo_path, overrides={"learning.lrr": 0.1})
    with pytest.raises(bsp_sim.BspSimError, match=r"must be finite and >= 0"):
        bsp_sim.Model.load(demo_path, overrides={"learning.lr": -1})
    with pytest.raises(bsp_sim.BspSimError, match=r"cannot read model file"):
        bsp_sim.Model.load(tmp_path / "missing.yaml")
    with pytest.raises(bsp_sim.BspSimError, match="threads must be between 1 and 256"):
        bsp_sim.Model.load(demo_path).run(epochs=1, out=tmp_path, threads=0, progress=False)
    bad = tmp_path / "bad.yaml"
    bad.write_text(demo_path.read_text().replace("lr: 0.003", "lr: [1"))
    with pytest.raises(bsp_sim.BspSimError, match=r"invalid YAML"):
        bsp_sim.Model.load(bad)


def test_a_run_reads_back_metrics_summary_and_weights(traced_run):
    run = traced_run
    m = run.metrics
    assert isinstance(m, pd.DataFrame)
    assert list(m.epoch) == [1]
    assert {"train_loss", "test_accuracy", "samples_per_second"} <= set(m.columns)
    s = run.summary
    assert s["status"] == "complete"
    assert s["train_samples"] == 600 and s["test_samples"] == 200
    assert s["final_test_accuracy"] == pytest.approx(m.test_accuracy.iloc[-1])
    w = run.weights()
    assert [a.shape for a in w] == [(32, 64), (10, 32)]
    assert all(a.dtype == np.float32 for a in w)
    # The arrays are the checkpoint's coefficients, row-major [post][pre].
    ck = json.loads((run.dir / "checkpoint.json").read_text())
    dense = ck["projections"][1]["Dense"]
    assert w[1][3, 7] == np.float32(dense["c"][3 * dense["pre"] + 7])
    assert run.model_yaml.startswith("# ") and "override data.synthetic.train=600" in run.model_yaml
    assert bsp_sim.open_run(run.dir).summary == s


def test_predictions_and_the_confusion_matrix_agree_with_the_accuracy(traced_run):
    run = traced_run
    p = run.predictions()
    assert list(p.columns) == ["epoch", "sample", "label", "predicted"]
    assert len(p) == 200 and set(p.epoch) == {1}
    c = run.confusion()
    assert c.values.sum() == 200
    assert c.values.trace() / 200 == pytest.approx(run.metrics.test_accuracy.iloc[-1])


def test_evaluate_reproduces_the_last_epoch_and_its_predictions(traced_run):
    run = traced_run
    e = run.evaluate(threads=1)
    assert (e["epochs"], e["samples"]) == (1, 200)
    assert e["accuracy"] == pytest.approx(run.metrics.test_accuracy.iloc[-1], abs=0)
    assert e["loss"] == pytest.approx(run.metrics.test_loss.iloc[-1], rel=1e-12)
    assert e["predictions"].equals(run.predictions())
    assert run.evaluate(test_limit=50, threads=1)["samples"] == 50
    with pytest.raises(bsp_sim.BspSimError, match="threads must be between 1 and 256"):
        run.evaluate(threads=0)


def test_traces_load_as_dataframes_and_spike_trains(traced_run):
    ev, st = traced_run.events(), traced_run.states()
    assert list(ev.columns) == ["epoch", "sample", "time", "layer", "neuron", "wave", "value"]
    assert not ev.empty and not st.empty
    assert set(ev.wave) <= {"forward", "backward"}
    assert {"J", "S", "M", "H", "T", "signal"} <= set(st.columns)


def test_spike_trains_are_one_neo_train_per_recorded_neuron(traced_run):
    import neo  # noqa: F401  (a test dependency: pip install neo)
    ev = traced_run.events()
    e, s = (int(x) for x in ev.iloc[0][["epoch", "sample"]])
    recorded = sorted(set(traced_run.states().query("layer == 1").neuron))
    for wave in ("forward", "backward"):
        trains = traced_run.spike_trains(layer=1, wave=wave)
        assert [t.annotations["neuron"] for t in trains] == recorded
        sel = ev[(ev.epoch == e) & (ev["sample"] == s) & (ev.layer == 1) & (ev.wave == wave)]
        assert sum(len(t) for t in trains) == len(sel)
        for t in trains:
            times = sel[sel.neuron == t.annotations["neuron"]].time.to_numpy()
            assert np.allclose(np.sort(times), t.magnitude)
    with pytest.raises(bsp_sim.BspSimError, match="layer 5 was not recorded; recorded layers: 0, 1, 2"):
        traced_run.spike_trains(layer=5)
    with pytest.raises(bsp_sim.BspSimError, match="recorded: epoch 1 sample"):
        traced_run.spike_trains(layer=1, sample=1)


def test_spike_trains_without_neo_say_how_to_get_it(traced_run, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "neo", None)
    with pytest.raises(ImportError, match="pip install neo"):
        traced_run.spike_trains(layer=1)


def test_an_untraced_run_has_empty_traces_and_open_run_finds_a_single_run(demo_path, tmp_path):
    m = bsp_sim.Model.load(demo_path, overrides={"data.synthetic.train": 200})
    run = m.run(epochs=1, out=tmp_path, threads=1, test_limit=100, trace=False, progress=False)
    assert run.events().empty and run.states().empty
    assert list(run.events().columns)[:3] == ["epoch", "sample", "time"]
    assert bsp_sim.open_run(tmp_path).dir == run.dir
    m.run(epochs=1, out=tmp_path, threads=1, test_limit=100, seed=8, progress=False)
    with pytest.raises(bsp_sim.BspSimError, match="holds 2 runs"):
        bsp_sim.open_run(tmp_path)
    with pytest.raises(bsp_sim.BspSimError, match="no trace recorded"):
        run.spike_trains(layer=0)


def test_progress_bar_reports_elapsed_eta_and_a_three_digit_rate(demo_path, tmp_path, capsys, monkeypatch):
    import bsp_sim._progress as p

    assert p._sig3(8286.42) == "8290"
    assert p._sig3(0.012345) == "0.0123"
    assert p._sig3(12.345) == "12.3"
    assert p._sig3(1.0) == "1"
    reporter = p._Reporter()
    reporter._tqdm = None  # the plain bar
    reporter("epoch_started", json.dumps({"epoch": 1, "epochs": 2, "samples": 100}))
    reporter("batch_done", json.dumps({"done": 50, "loss": 1.5, "accuracy": 0.25}))
    reporter("epoch_done", json.dumps({"epoch": 1, "engine": "sync", "test_accuracy": 0.5, "train_loss": 1.2}))
    err = capsys.readouterr().err
    assert "epoch 1/2" in err and "50/100" in err and "samples/s" in err
    assert "<" in err  # elapsed<eta
    assert "test accuracy 50.00%" in err


def test_compare_returns_one_row_per_engine_and_epoch(demo_path, tmp_path):
    m = bsp_sim.Model.load(demo_path, overrides={"data.synthetic.train": 200})
    df = bsp_sim.compare(m, epochs=2, out=tmp_path, threads=1, test_limit=100, progress=False)
    assert set(df.engine) == {"sync", "async"}
    assert sorted(df[df.engine == "sync"].epoch) == [1, 2]
    assert df.test_accuracy.between(0, 1).all()
    assert (df[df.engine == "async"].events > 0).all()
