"""A notebook-style session: train the demo (synthetic data, no download), look at the
metrics and weights in pandas and numpy, and draw them with matplotlib."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import bsp_sim  # noqa: E402


def test_train_the_demo_and_plot(demo_path, tmp_path):
    model = bsp_sim.Model.load(demo_path, overrides={"learning.lr": 0.003})
    run = model.run(epochs=2, out=tmp_path, threads=2, train_limit=1000, test_limit=300, trace=True)

    metrics = run.metrics
    assert len(metrics) == 2
    # It learns: better than chance (10 classes) after two epochs.
    assert metrics.test_accuracy.iloc[-1] > 0.2

    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(12, 3.5))
    ax1.plot(metrics.epoch, 100 * metrics.test_accuracy, "o-", label="test")
    ax1.plot(metrics.epoch, 100 * metrics.train_accuracy, "s--", label="train")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("accuracy (%)")
    ax1.legend()
    for k, w in enumerate(run.weights()):
        ax2.hist(w.ravel(), bins=40, histtype="step", label=f"C {k}->{k + 1}")
    ax2.set_xlabel("C")
    ax2.legend()
    ev = run.events()
    first = ev[(ev.epoch == ev.epoch.iloc[0]) & (ev["sample"] == ev["sample"].iloc[0])]
    for wave, marker in (("forward", "|"), ("backward", "_")):
        sel = first[first.wave == wave]
        ax3.scatter(sel.time, sel.layer * 20 + sel.neuron, marker=marker, s=12, label=wave)
    ax3.set_xlabel("time (model units)")
    ax3.set_ylabel("layer*20 + neuron")
    ax3.legend()
    out = tmp_path / "demo.png"
    fig.savefig(out, dpi=100)
    plt.close(fig)
    assert out.stat().st_size > 10_000
    assert np.isfinite(np.concatenate([w.ravel() for w in run.weights()])).all()
