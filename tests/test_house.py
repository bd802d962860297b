"""House rules the code itself can be checked against (the brief: no function over 60 lines)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("cpeguard", "features", "detectors", "training", "serving", "scaleout", "benchmarks", "tests")
MAX_FUNCTION_LINES = 60


def long_functions(root: Path) -> list[str]:
    """``path:line name (lines)`` of every function, method or test longer than the limit."""
    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    lines = (node.end_lineno or node.lineno) - node.lineno + 1
                    if lines > MAX_FUNCTION_LINES:
                        found.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({lines})")
    return found


def test_no_function_over_60_lines() -> None:
    assert long_functions(ROOT) == []


def test_a_long_function_is_found(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "detectors").mkdir()
    (tmp_path / "detectors" / "long.py").write_text(f"def too_long() -> None:\n{body}\n")
    assert long_functions(tmp_path) == ["detectors/long.py:1 too_long (61)"]
