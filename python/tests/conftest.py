"""Shared fixtures: the repository's model files and a small demo run."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "models" / "demo.yaml"


@pytest.fixture(scope="session")
def demo_path() -> Path:
    return DEMO


@pytest.fixture(scope="session")
def traced_run(tmp_path_factory):
    """One traced epoch of the demo on 600 samples (shared by the read-back tests)."""
    import bsp_sim

    out = tmp_path_factory.mktemp("runs")
    model = bsp_sim.Model.load(DEMO, overrides={"data.synthetic.train": 600})
    return model.run(epochs=1, out=out, threads=2, test_limit=200, trace=True, progress=False)
