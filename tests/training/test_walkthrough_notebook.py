"""The detection walkthrough shows its figures: each plotting cell yields a PNG (issue 12, point 5)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "detection_walkthrough.ipynb"


def _plots(cell: nbformat.NotebookNode) -> bool:
    """Whether a code cell draws a figure (pyplot, pandas' .plot or networkx's draw)."""
    return any(call in cell.source for call in ("plt.", ".plot.", "nx.draw"))


def _images(cell: nbformat.NotebookNode) -> int:
    return sum("image/png" in output.get("data", {}) for output in cell.get("outputs", []))


@pytest.mark.e2e
def test_walkthrough_notebook_displays_a_figure_in_every_plotting_cell() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    cells = [c for c in notebook.cells if c.cell_type == "code"]
    errors = [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    plotting = [c for c in cells if _plots(c)]
    assert len(plotting) == 4  # a timeline pair, a dense block, a ring, money by reason
    assert [_images(c) for c in plotting] == [1] * len(plotting)
