"""The console's colours meet WCAG AA: text 4.5:1 on its background, focus ring and chart marks 3:1."""

from __future__ import annotations

import re
from pathlib import Path

CSS = (Path(__file__).resolve().parents[2] / "serving" / "review" / "static" / "review.css").read_text()


def _luminance(hex_colour: str) -> float:
    value = hex_colour.lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    channels = [int(value[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    """The WCAG contrast ratio of two colours."""
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _var(name: str) -> str:
    found = re.search(rf"--{name}:\s*(#[0-9a-fA-F]{{3,6}})", CSS)
    assert found, name
    return found.group(1)


def _fill(selector: str) -> str:
    found = re.search(rf"{re.escape(selector)}\s*\{{[^}}]*?(?:fill|stroke):\s*(#[0-9a-fA-F]{{3,6}})", CSS)
    assert found, selector
    return found.group(1)


def test_text_on_its_backgrounds_reaches_4_5() -> None:
    pairs = [
        (_var("ink"), _var("paper")),
        (_var("ink"), _var("card")),
        (_var("muted"), _var("card")),
        (_var("link"), _var("card")),
        (_var("link"), _var("note-bg")),
        (_var("bad"), _var("bad-bg")),
        ("#ffffff", _var("brand")),  # header and buttons
        ("#ffffff", _var("warn")),  # badges
        ("#ffffff", _var("ok")),
        ("#ffffff", "#5b3f8c"),  # the sample badge
    ]
    for text, background in pairs:
        assert contrast(text, background) >= 4.5, (text, background, contrast(text, background))


def test_focus_ring_and_chart_marks_reach_3_on_white() -> None:
    assert contrast(_var("focus"), _var("paper")) >= 3
    assert contrast("#ffffff", _var("brand")) >= 3  # the header's own white ring
    for selector in (
        "svg .bar-organic",
        "svg .bar-flagged",
        "svg .baseline",
        "svg .node-account",
        "svg .node-account.invalid",
        "svg .node-post",
    ):
        assert contrast(_fill(selector), "#ffffff") >= 3, selector
