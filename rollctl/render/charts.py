"""The chart shapes the reports share, as plotly figures wrapped in `Chart`s.

Every label, category and hover text passes through `plot_text` here, so report builders hand over raw
(untrusted) strings and cannot forget to escape one. Numbers are passed as they are in the result object, so a
chart shows exactly the --json numbers; None becomes a gap, never a zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from rollctl.render.html import Chart, make_chart, plot_text

Number = float | int | None

_MARGIN = {"l": 70, "r": 24, "t": 16, "b": 56}


def _labels(values: Sequence[object]) -> list[str]:
    return [plot_text(v) for v in values]


def _axis(title: str, pct: bool = False) -> dict[str, object]:
    axis: dict[str, object] = {"title": {"text": plot_text(title)}, "automargin": True}
    if pct:
        axis["tickformat"] = ".1%"
    return axis


def _err(values: Sequence[Number], bounds: Sequence[Number], upper: bool) -> list[float | None]:
    out: list[float | None] = []
    for v, b in zip(values, bounds, strict=True):
        out.append(None if v is None or b is None else (b - v if upper else v - b))
    return out


def interval_chart(chart_id: str, title: str, caption: str, *, labels: Sequence[object],
                   estimates: Sequence[Number], lows: Sequence[Number], highs: Sequence[Number],
                   axis_title: str, pct: bool = False, reference: float | None = 0.0,
                   tolerances: Sequence[Number] | None = None, hover: Sequence[object] | None = None) -> Chart:
    """A forest plot: one row per label, the estimate with its interval, a reference line (no effect) and, per
    row, the tolerance it is judged against."""
    names = _labels(labels)
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        name="estimate", x=list(estimates), y=names, mode="markers", marker={"size": 10},
        error_x={"type": "data", "symmetric": False, "array": _err(estimates, highs, True),
                 "arrayminus": _err(estimates, lows, False), "thickness": 2, "width": 6},
        hovertext=_labels(hover) if hover is not None else None,
    ))
    if tolerances is not None and any(t is not None for t in tolerances):
        fig.add_trace(go.Scatter(
            name="tolerance", x=list(tolerances), y=names, mode="markers",
            marker={"symbol": "line-ns-open", "size": 22, "line": {"width": 3}, "color": "#c62828"},
        ))
    if reference is not None:
        fig.add_vline(x=reference, line_dash="dot", line_color="#888")
    fig.update_layout(height=max(220, 46 * len(names) + 110), margin={**_MARGIN, "l": 140},
                      xaxis=_axis(axis_title, pct), yaxis={"autorange": "reversed", "type": "category",
                                                          "automargin": True},
                      legend={"orientation": "h", "y": -0.25}, showlegend=tolerances is not None)
    return make_chart(chart_id, title, caption, fig)


def bar_chart(chart_id: str, title: str, caption: str, *, categories: Sequence[object],
              series: Mapping[str, Sequence[Number]], axis_title: str, pct: bool = False, stacked: bool = False,
              errors: Mapping[str, tuple[Sequence[Number], Sequence[Number]]] | None = None,
              horizontal: bool = False) -> Chart:
    """Grouped (or stacked) bars, one series per arm or outcome; optional intervals as error bars."""
    cats = _labels(categories)
    fig = go.Figure()
    for name, values in series.items():
        error = None
        if errors is not None and name in errors:
            lows, highs = errors[name]
            error = {"type": "data", "symmetric": False, "array": _err(values, highs, True),
                     "arrayminus": _err(values, lows, False)}
        if horizontal:
            fig.add_trace(go.Bar(name=plot_text(name), y=cats, x=list(values), orientation="h", error_x=error))
        else:
            fig.add_trace(go.Bar(name=plot_text(name), x=cats, y=list(values), error_y=error))
    value_axis = _axis(axis_title, pct)
    cat_axis = {"type": "category", "automargin": True}
    fig.update_layout(barmode="stack" if stacked else "group", height=360, margin=_MARGIN,
                      xaxis=value_axis if horizontal else cat_axis, yaxis=cat_axis if horizontal else value_axis,
                      legend={"orientation": "h", "y": 1.12})
    return make_chart(chart_id, title, caption, fig)


def line_chart(chart_id: str, title: str, caption: str, *, x: Sequence[object],
               series: Mapping[str, Sequence[Number]], axis_title: str, x_title: str = "",
               bands: Mapping[str, tuple[Sequence[Number], Sequence[Number]]] | None = None, pct: bool = False,
               reference: float | None = None, hlines: Mapping[str, float] | None = None) -> Chart:
    """Lines over time or size, each optionally with a shaded band (a confidence sequence, an interval)."""
    xs = [plot_text(v) if isinstance(v, str) else v for v in x]
    fig = go.Figure()
    for name, values in series.items():
        if bands is not None and name in bands:
            lows, highs = bands[name]
            fig.add_trace(go.Scatter(x=xs, y=list(highs), mode="lines", line={"width": 0}, showlegend=False,
                                     hoverinfo="skip", name=plot_text(name) + " upper"))
            fig.add_trace(go.Scatter(x=xs, y=list(lows), mode="lines", line={"width": 0}, fill="tonexty",
                                     fillcolor="rgba(99,110,250,0.2)", showlegend=False, hoverinfo="skip",
                                     name=plot_text(name) + " lower"))
        fig.add_trace(go.Scatter(name=plot_text(name), x=xs, y=list(values), mode="lines+markers"))
    if reference is not None:
        fig.add_hline(y=reference, line_dash="dot", line_color="#888")
    for label, value in (hlines or {}).items():
        fig.add_hline(y=value, line_dash="dash", line_color="#c62828", annotation_text=plot_text(label))
    fig.update_layout(height=360, margin=_MARGIN, xaxis=_axis(x_title), yaxis=_axis(axis_title, pct),
                      legend={"orientation": "h", "y": 1.12})
    return make_chart(chart_id, title, caption, fig)


TONES = {"worse": "#c62828", "better": "#2e7d32"}
"""Cell colours that say which way a change went, whatever its count (a regression is never a pale cell)."""


def _blue(share: float) -> str:
    """A shade from pale to deep blue for a count's share of the largest count."""
    low, high = (239, 243, 255), (8, 81, 156)
    return "#" + "".join(f"{round(a + (b - a) * share):02x}" for a, b in zip(low, high, strict=True))


def heatmap_chart(chart_id: str, title: str, caption: str, *, rows: Sequence[object], columns: Sequence[object],
                  values: Sequence[Sequence[Number]], x_title: str, y_title: str,
                  tones: Sequence[Sequence[str | None]] | None = None) -> Chart:
    """A labelled matrix (e.g. pass/fail transitions), the count written in each cell.

    Drawn as square scatter markers (the reports inline plotly's basic bundle, which has no heatmap trace); an
    empty cell (None) gets no marker. A non-zero cell whose tone is "worse" or "better" (`tones`, same shape as
    `values`) is red or green; the others are shaded blue by count."""
    row_labels, column_labels = _labels(rows), _labels(columns)
    cells = [(column_labels[j], row_labels[i], v, tones[i][j] if tones else None)
             for i, r in enumerate(values) for j, v in enumerate(r) if v is not None]
    top = max((v for _, _, v, _ in cells), default=0) or 1
    # A tone needs a case to show: an empty "regression" cell is no regression.
    colours = [(TONES.get(tone or "", "") if v else "") or _blue(v / top) for _, _, v, tone in cells]
    dark = [(tone in TONES and bool(v)) or v > top / 2 for _, _, v, tone in cells]
    fig = go.Figure(go.Scatter(
        x=[c for c, _, _, _ in cells], y=[r for _, r, _, _ in cells], mode="markers+text",
        marker={"symbol": "square", "size": 54, "color": colours, "line": {"width": 1, "color": "#ccc"}},
        text=[f"{v:,}" for _, _, v, _ in cells], textfont={"color": ["#fff" if d else "#000" for d in dark]},
        hovertemplate="%{y} → %{x}: %{text}<extra></extra>", showlegend=False,
    ))
    fig.update_layout(height=max(240, 60 * len(rows) + 120), margin={**_MARGIN, "l": 110},
                      xaxis={**_axis(x_title), "type": "category", "side": "top", "categoryorder": "array",
                             "categoryarray": column_labels},
                      yaxis={**_axis(y_title), "type": "category", "autorange": "reversed",
                             "categoryorder": "array", "categoryarray": row_labels})
    return make_chart(chart_id, title, caption, fig)
