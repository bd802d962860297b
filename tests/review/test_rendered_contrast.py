"""WCAG AA measured on rendered pages in Debian's chromium: every visible text against the background
it is drawn on (4.5:1, large text 3:1), form controls against their surroundings (3:1), and the
focus ring of every keyboard stop (3:1 against the background around it), on the queue and on a
case page of every kind."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.review.test_browser import _first_case, _launch, _sign_in, server, sync_playwright  # noqa: F401

pytestmark = pytest.mark.e2e
SCRIPT = (Path(__file__).with_name("contrast.js")).read_text()
FOCUS = """(() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const parse = (c) => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const s = getComputedStyle(el);
  let bg = null;
  for (let e = el.parentElement; e; e = e.parentElement) {
    const c = parse(getComputedStyle(e).backgroundColor); if (c && c[3] >= 1) { bg = c; break; }
  }
  return { el: el.tagName + "#" + el.id, style: s.outlineStyle, width: parseFloat(s.outlineWidth),
           ring: parse(s.outlineColor), bg: bg || [255, 255, 255, 1] };
})()"""


def _lum(rgb: list[float]) -> float:
    def f(v: float) -> float:
        v /= 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    return 0.2126 * f(rgb[0]) + 0.7152 * f(rgb[1]) + 0.0722 * f(rgb[2])


def _ratio(a: list[float], b: list[float]) -> float:
    hi, lo = sorted((_lum(a), _lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _native_controls(page: Any, native: list[dict[str, Any]], most: int) -> list[str]:
    """Controls the browser draws itself (checkboxes, radios): their darkest-contrast pixel against the
    background around them, from a screenshot (3:1); the first ``most`` of each kind of id."""
    failures = []
    seen: dict[str, int] = {}
    for control in native:
        kind = control["id"].split("-", 1)[0]
        seen[kind] = seen.get(kind, 0) + 1
        if seen[kind] > most:
            continue
        shot = Image.open(io.BytesIO(page.locator(f"#{control['id']}").screenshot())).convert("RGB")
        pixels = shot.tobytes()
        best = max(
            _ratio([pixels[i], pixels[i + 1], pixels[i + 2]], control["around"])
            for i in range(0, len(pixels), 3)
        )
        if best < 3:
            failures.append(f"control #{control['id']}: drawn at most {best:.2f}:1")
    return failures


def _focus_rings(page: Any, stops: int) -> list[str]:
    """Tab through the page's first ``stops`` keyboard stops; each ring's failures."""
    failures = []
    page.locator("body").focus()
    for _ in range(stops):
        page.keyboard.press("Tab")
        found = page.evaluate(FOCUS)
        if found is None:
            continue
        if found["style"] == "none" or found["width"] < 2 or found["ring"] is None:
            failures.append(f"{found['el']}: no visible focus ring")
            continue
        got = _ratio(found["ring"], found["bg"])
        if got < 3:
            failures.append(f"{found['el']}: focus ring {got:.2f}:1")
    return failures


def test_rendered_pages_meet_wcag_aa(sync_playwright: Any, server: Any) -> None:  # noqa: F811
    with sync_playwright() as playwright:
        browser = _launch(playwright)
        try:
            page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
            _sign_in(page, server.base, server.keys["reviewer"])
            pages = {"queue": "/review/queue"}
            for kind in ("post", "creator", "group", "account"):
                pages[kind] = _first_case(page, server.base, f"kind={kind}")
            problems: list[str] = []
            for name, url in pages.items():
                page.goto(f"{server.base}{url}")
                measured = page.evaluate(SCRIPT)
                assert measured["checked"] > 20, f"{name}: too little measured"
                problems += [
                    f"{name}: {f['what']} {f['el']} {f.get('text', '')!r} {f['ratio']:.2f} < {f['need']}"
                    for f in measured["failures"]
                ]
                problems += [f"{name}: {p}" for p in _native_controls(page, measured["native"], 3)]
                problems += [f"{name}: {p}" for p in _focus_rings(page, 40)]
            assert not problems, "\n".join(problems)
        finally:
            browser.close()
