"""Training plots are part of every run: drawn as PNGs, and a failure to draw one is an error."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

from training.plots import PlotError, write_plots

ROOT = Path(__file__).resolve().parents[2]


def _scores(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    fraud = rng.random(n) < 0.2
    return pd.DataFrame({"risk": np.clip(rng.normal(0.2 + 0.6 * fraud, 0.1), 0, 1), "is_fraud": fraud})


RECALL = pd.DataFrame({"candidate": [0.9, 0.8], "champion": [0.95, 0.7]}, index=["ring", "click_farm"])
DRIFT = pd.DataFrame({"feature": ["age_days", "followers"], "psi": [0.02, 0.3]})


def test_write_plots_draws_every_png_and_leaves_the_backend_alone(tmp_path: Path) -> None:
    before = matplotlib.get_backend()
    matplotlib.use("svg")  # stands in for a notebook's inline backend
    try:
        written = write_plots(tmp_path, scores=_scores(), recall=RECALL, drift=DRIFT)
        assert matplotlib.get_backend() == "svg"
    finally:
        matplotlib.use(before)
    names = [p.name for p in written]
    assert names == ["pr_curve.png", "recall_by_scheme.png", "score_distributions.png", "drift_psi.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in written)


def test_a_plot_that_cannot_be_drawn_fails_the_run_naming_it(tmp_path: Path) -> None:
    with pytest.raises(PlotError, match=r"cannot draw plot pr_curve\.png: KeyError: 'risk'"):
        write_plots(tmp_path, scores=_scores().drop(columns="risk"), recall=RECALL, drift=None)
    with pytest.raises(PlotError, match=r"cannot draw plot drift_psi\.png: KeyError"):
        write_plots(tmp_path, scores=_scores(), recall=RECALL, drift=DRIFT.rename(columns={"psi": "x"}))


def test_without_matplotlib_training_plots_raise_instead_of_skipping(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "import pandas as pd\n"
        "from pathlib import Path\n"
        "from training.plots import PlotError, write_plots\n"
        "empty = pd.DataFrame()\n"
        "try:\n"
        f"    write_plots(Path({str(tmp_path)!r}), scores=empty, recall=empty, drift=None)\n"
        "except PlotError as error:\n"
        "    print(error)\n"
        "else:\n"
        "    print('skipped')\n"
    )
    answer = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert answer.returncode == 0, answer.stderr
    assert "matplotlib is not importable" in answer.stdout


def test_matplotlib_is_a_main_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    main = [d.split(">")[0].split("[")[0].strip() for d in project["dependencies"]]
    assert "matplotlib" in main
