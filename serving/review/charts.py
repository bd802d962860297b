"""Server-side SVG: the post's timeline against the organic baseline, and the account/post graph."""

from __future__ import annotations

import math
from collections.abc import Mapping
from html import escape

import networkx as nx
import numpy as np
import pandas as pd

from serving.review.evidence import Graph

_W, _H, _PAD = 640, 240, 40
_LABELLED_ACCOUNTS = 40  # more accounts than this: circles only (their ids in tooltips)


def timeline_svg(bins: pd.DataFrame, *, title: str) -> str:
    """A bar chart of engagements per bin (flagged ones stacked in red) with the baseline as a line."""
    label = escape(title, quote=True)
    if bins.empty:
        return (
            f'<svg id="timeline-chart" role="img" aria-label="{label}" viewBox="0 0 {_W} 60">'
            f"<title>{label}</title>"
            '<text x="10" y="30">no engagements recorded for this post</text></svg>'
        )
    n = len(bins)
    # the post's own scale: the baseline is clipped at the post's peak (its shape is what matters)
    top = max(float(bins["engagements"].max()), 1.0)
    plot_w, plot_h = _W - 2 * _PAD, _H - 2 * _PAD
    bar_w = plot_w / n
    bin_h = int(bins["start_h"].iloc[1] - bins["start_h"].iloc[0]) if n > 1 else 1

    def y(value: float) -> float:
        return _PAD + plot_h - plot_h * min(value, top) / top

    parts = [
        f'<svg id="timeline-chart" role="img" aria-label="{label}" viewBox="0 0 {_W} {_H}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{label}</title>",
        f'<line class="axis" x1="{_PAD}" y1="{_PAD + plot_h}" x2="{_W - _PAD}" y2="{_PAD + plot_h}"/>',
        f'<line class="axis" x1="{_PAD}" y1="{_PAD}" x2="{_PAD}" y2="{_PAD + plot_h}"/>',
        f'<text class="tick" x="{_PAD - 6}" y="{_PAD + 4}" text-anchor="end">{top:.0f}</text>',
        f'<text class="tick" x="{_PAD - 6}" y="{_PAD + plot_h}" text-anchor="end">0</text>',
    ]
    starts = bins["start_h"].to_numpy(dtype=np.int64)
    totals = bins["engagements"].to_numpy(dtype=np.float64)
    flags = bins["flagged"].to_numpy(dtype=np.float64)
    baseline = bins["baseline"].to_numpy(dtype=np.float64)
    for i in range(n):
        x = _PAD + i * bar_w
        total, flagged, start_h = float(totals[i]), float(flags[i]), int(starts[i])
        tip = f"hour {start_h}: {total:.0f} engagements, {flagged:.0f} flagged, baseline {baseline[i]:.1f}"
        parts.append(
            f'<rect class="bar-organic" x="{x:.1f}" y="{y(total):.1f}" width="{max(bar_w - 1, 1):.1f}" '
            f'height="{y(0) - y(total):.1f}"><title>{tip}</title></rect>'
        )
        if flagged > 0:
            parts.append(
                f'<rect class="bar-flagged" x="{x:.1f}" y="{y(flagged):.1f}" '
                f'width="{max(bar_w - 1, 1):.1f}" height="{y(0) - y(flagged):.1f}"/>'
            )
    points = " ".join(
        f"{_PAD + (i + 0.5) * bar_w:.1f},{y(float(v)):.1f}" for i, v in enumerate(bins["baseline"])
    )
    parts.append(f'<polyline class="baseline" points="{points}"/>')
    last_h = int(bins["start_h"].iloc[-1])
    parts += [
        f'<text class="tick" x="{_PAD}" y="{_H - _PAD + 16}">0 h</text>',
        f'<text class="tick" x="{_W - _PAD}" y="{_H - _PAD + 16}" text-anchor="end">{last_h} h</text>',
        f'<text class="tick" x="{_W / 2:.0f}" y="{_H - 6}" text-anchor="middle">'
        f"hours since the post's first engagement; one bar = {bin_h} h</text>",
        *_legend(),
        "</svg>",
    ]
    return "".join(parts)


def _legend() -> list[str]:
    """The timeline's legend, across its top."""
    items = (
        ("rect", "bar-organic", "engagements"),
        ("rect", "bar-flagged", "invalid"),
        ("line", "baseline", "baseline"),
    )
    out = ['<g class="legend">']
    for i, (shape, css, text) in enumerate(items):
        x = _PAD + i * 140
        if shape == "rect":
            out.append(f'<rect class="{css}" x="{x}" y="8" width="12" height="12"/>')
        else:
            out.append(f'<line class="{css}" x1="{x}" y1="14" x2="{x + 12}" y2="14"/>')
        out.append(f'<text class="tick" x="{x + 16}" y="18">{text}</text>')
    return [*out, "</g>"]


def graph_svg(graph: Graph, *, title: str, links: Mapping[str, str] | None = None) -> str:
    """Accounts (circles: red invalid, blue review band) linked to the posts (squares) they engage,
    labelled, with a legend; a node with a case in ``links`` (``a:<account>``, ``p:<post>``) opens it."""
    links = links or {}
    label = escape(title, quote=True)
    if graph.accounts.empty:
        return (
            f'<svg id="group-graph" role="img" aria-label="{label}" viewBox="0 0 {_W} 60">'
            f"<title>{label}</title>"
            '<text x="10" y="30">no doubted accounts on this post</text></svg>'
        )
    g = nx.Graph()
    g.add_nodes_from(f"a:{a}" for a in graph.accounts["account_id"])
    g.add_nodes_from(f"p:{p}" for p in graph.posts["post_id"])
    g.add_edges_from((f"a:{r.account_id}", f"p:{r.post_id}") for r in graph.edges.itertuples())
    positions = nx.spring_layout(g, seed=7, k=1.5 / math.sqrt(max(g.number_of_nodes(), 1)))
    size, pad = 420, 24

    def xy(node: str) -> tuple[float, float]:
        px, py = positions[node]
        return pad + (px + 1) / 2 * (size - 2 * pad), pad + (py + 1) / 2 * (size - 2 * pad)

    parts = [
        f'<svg id="group-graph" role="img" aria-label="{label}" viewBox="0 0 {size + 40} {size + 32}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{label}</title>",
    ]
    for a, b in g.edges():
        (x1, y1), (x2, y2) = xy(a), xy(b)
        parts.append(f'<line class="edge" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}"/>')
    label_accounts = len(graph.accounts) <= _LABELLED_ACCOUNTS
    for row in graph.posts.itertuples():
        x, y = xy(f"p:{row.post_id}")
        kind = "node-post node-case" if row.is_case else "node-post"
        tip = escape(f"post {row.post_id}: {row.n_accounts} of these accounts", quote=False)
        node = (
            f'<rect class="{kind}" x="{x - 7:.1f}" y="{y - 7:.1f}" width="14" height="14">'
            f"<title>{tip}</title></rect>"
            f'<text class="label" x="{x + 9:.1f}" y="{y + 4:.1f}">{escape(_short(str(row.post_id)))}</text>'
        )
        parts.append(_linked(node, links.get(f"p:{row.post_id}")))
    for row in graph.accounts.itertuples():
        x, y = xy(f"a:{row.account_id}")
        kind = "node-account invalid" if row.is_invalid else "node-account"
        tip = escape(f"account {row.account_id}: risk {row.risk:.2f}, {row.reason}", quote=False)
        node = f'<circle class="{kind}" cx="{x:.1f}" cy="{y:.1f}" r="6"><title>{tip}</title></circle>'
        if label_accounts:
            short = escape(_short(str(row.account_id)))
            node += f'<text class="label" x="{x + 8:.1f}" y="{y + 3:.1f}">{short}</text>'
        parts.append(_linked(node, links.get(f"a:{row.account_id}")))
    parts += _graph_legend(size)
    parts.append("</svg>")
    return "".join(parts)


def _short(name: str) -> str:
    return name if len(name) <= 10 else f"…{name[-8:]}"


def _linked(node: str, href: str | None) -> str:
    return f'<a href="{escape(href, quote=True)}" class="node-link">{node}</a>' if href else node


def _graph_legend(size: int) -> list[str]:
    """The graph's legend along its bottom edge: what each shape and colour means."""
    y = size + 16
    return [
        f'<circle class="node-account invalid" cx="14" cy="{y}" r="6"/>',
        f'<text class="tick" x="24" y="{y + 4}">account, invalid engagement</text>',
        f'<circle class="node-account" cx="194" cy="{y}" r="6"/>',
        f'<text class="tick" x="204" y="{y + 4}">account, review band</text>',
        f'<rect class="node-post" x="340" y="{y - 6}" width="12" height="12"/>',
        f'<text class="tick" x="356" y="{y + 4}">post</text>',
    ]
