"""matplotlib figures of the frames: src x dst matrices, a pair's time series, latency CDFs.

Each function returns a ``matplotlib.figure.Figure`` drawn on the Agg canvas
(no pyplot state, no global backend change: a notebook shows the returned
figure as usual), and ``save(fig, "file.svg")`` writes it as SVG, PNG or PDF.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Iterable, Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .headline import headline_probe, probe_name

MS = 1e3
MBIT = 1e6
_AGGREGATES = ("latest", "mean", "median", "min", "max")


def natural_key(name: str) -> list:
    """Sorts node-2 before node-10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(name))]


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _nodes(df: pd.DataFrame, nodes: Sequence[str] | None) -> list[str]:
    if nodes is not None:
        return list(nodes)
    names = set(df["src"].dropna().astype(str)) | set(df["dst"].dropna().astype(str))
    return sorted(names, key=natural_key)


def _pair_values(df: pd.DataFrame, column: str, agg: str) -> tuple[dict, dict, dict]:
    """(src, dst) -> figure; (src, dst) -> failure reason of the test the figure stands for; and
    (src, dst) -> reason for pairs whose every test broke and measured nothing.

    A test that broke (connectivity ``<NA>``) measured nothing: "latest" is the
    latest measured test, and the aggregates leave it out.
    """
    if agg not in _AGGREGATES:
        raise ValueError(f"agg={agg!r}: expected one of {', '.join(_AGGREGATES)}")
    values: dict[tuple[str, str], float] = {}
    failures: dict[tuple[str, str], str] = {}
    unmeasured: dict[tuple[str, str], str] = {}
    for (src, dst), everything in df.groupby(["src", "dst"], sort=False, observed=True):
        everything = everything.sort_values("time")
        group = everything[everything["connectivity"].notna()] if "connectivity" in everything else everything
        if group.empty:
            values[(src, dst)] = math.nan
            reason = everything["reason"].dropna() if "reason" in everything else pd.Series(dtype="string")
            unmeasured[(src, dst)] = str(reason.iloc[-1]) if len(reason) else "not measured"
            continue
        if agg == "latest":
            last = group.iloc[-1]
            values[(src, dst)] = float(last[column]) if pd.notna(last[column]) else math.nan
            if "connectivity" in group and last["connectivity"] == 0:
                reason = last.get("reason")
                failures[(src, dst)] = str(reason) if pd.notna(reason) else "failed"
        else:
            series = group[column].dropna()
            values[(src, dst)] = float(getattr(series, agg)()) if len(series) else math.nan
            if "connectivity" in group and (group["connectivity"] == 0).all():
                reason = group["reason"].dropna()
                failures[(src, dst)] = str(reason.iloc[-1]) if len(reason) else "failed"
    return values, failures, unmeasured


def _matrix(
    df: pd.DataFrame,
    column: str,
    scale: float,
    label: str,
    title: str,
    cmap: str,
    agg: str,
    nodes: Sequence[str] | None,
    annotate: bool | None,
) -> Figure:
    if column not in df.columns:
        raise ValueError(f"the frame has no column {column!r}: pass a summary_frame()")
    names = _nodes(df, nodes)
    if not names:
        raise ValueError("the frame has no tests: nothing to draw")
    index = {name: i for i, name in enumerate(names)}
    n = len(names)
    grid = np.full((n, n), np.nan)
    values, failures, unmeasured = _pair_values(df, column, agg)
    for (src, dst), value in values.items():
        if src in index and dst in index:
            grid[index[src], index[dst]] = value * scale
    masked = np.ma.masked_invalid(grid)
    side = min(1.0 + 0.8 * n, 14.0)
    fig = _figure(side + 1.8, side + 0.6)
    ax = fig.add_subplot()
    colors = matplotlib.colormaps[cmap].with_extremes(bad="white")
    finite = grid[np.isfinite(grid)]
    limits = {"vmin": 0.0, "vmax": 1.0} if finite.size == 0 else {"vmin": 0.0, "vmax": float(finite.max()) or 1.0}
    image = ax.imshow(masked, cmap=colors, interpolation="nearest", aspect="equal", **limits)
    ax.set_xticks(
        range(n),
        labels=names,
        rotation=45 if max(len(s) for s in names) > 6 else 0,
        ha="right" if max(len(s) for s in names) > 6 else "center",
    )
    ax.set_yticks(range(n), labels=names)
    ax.set_xticks(np.arange(-0.5, n, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, n, 1), minor=True)
    ax.grid(which="minor", color="#bbbbbb", linewidth=0.8)
    ax.tick_params(which="minor", length=0)
    ax.set_xlabel("dst (server node)")
    ax.set_ylabel("src (client node)")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label=label, shrink=0.85)
    if annotate is None:
        annotate = n <= 12
    for (src, dst), reason in failures.items():
        if src in index and dst in index and not np.isfinite(grid[index[src], index[dst]]):
            ax.text(index[dst], index[src], f"✕\n{reason}", ha="center", va="center", fontsize=7, color="#b00020")
    for (src, dst), reason in unmeasured.items():
        if src in index and dst in index:
            ax.text(index[dst], index[src], f"?\n{reason}", ha="center", va="center", fontsize=7, color="#757575")
    if annotate and finite.size:
        top = float(finite.max())
        for i in range(n):
            for j in range(n):
                if np.isfinite(grid[i, j]):
                    ax.text(
                        j,
                        i,
                        f"{grid[i, j]:.3g}",
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="white" if grid[i, j] > 0.6 * top else "black",
                    )
    return fig


def _rounds_note(df: pd.DataFrame, agg: str) -> str:
    rounds = df["round"].nunique() if "round" in df else 0
    if rounds <= 1:
        return ""
    return f" ({agg} of {rounds} rounds)"


def latency_matrix(
    df: pd.DataFrame,
    stat: str = "median",
    *,
    agg: str = "latest",
    nodes: Sequence[str] | None = None,
    annotate: bool | None = None,
    title: str | None = None,
) -> Figure:
    """src x dst heatmap of a latency figure of ``summary_frame(...)``, in ms.

    ``stat``: min, mean, median, p99 or max (of the ``latency_series``, ICMP
    where measured). Several tests of a pair: ``agg`` picks the latest or
    aggregates (mean, median, min, max). Pairs without a figure (the diagonal,
    failed tests) stay empty; a failed test's cell names the reason. Tests that
    broke (connectivity <NA>) measured nothing and are left out; a pair with no
    other test shows "?" and their reason.
    """
    column = f"latency_{stat}_s"
    series = df["latency_series"].dropna().unique() if "latency_series" in df else []
    what = series[0] if len(series) == 1 else "latency"
    what = "ICMP" if probe_name(str(what)) == "icmp" else what
    return _matrix(
        df,
        column,
        MS,
        f"{what} round-trip time, {stat} (ms)",
        title or f"Round-trip time src → dst, {stat}{_rounds_note(df, agg)}",
        "YlOrRd",
        agg,
        nodes,
        annotate,
    )


def throughput_matrix(
    df: pd.DataFrame,
    direction: str = "upload",
    stat: str = "mean",
    *,
    agg: str = "latest",
    nodes: Sequence[str] | None = None,
    annotate: bool | None = None,
    title: str | None = None,
) -> Figure:
    """src x dst heatmap of TCP throughput of ``summary_frame(...)``, in Mbit/s.

    Rows are the test's client (src), columns its server (dst).
    ``direction="upload"``: data flowing src -> dst; ``"download"``: dst -> src.
    """
    if direction not in ("upload", "download"):
        raise ValueError(f"direction={direction!r}: expected upload (src -> dst) or download (dst -> src)")
    flow = "data src → dst" if direction == "upload" else "data dst → src"
    return _matrix(
        df,
        f"throughput_{direction}_{stat}_bps",
        1 / MBIT,
        f"TCP {direction} throughput, {stat} (Mbit/s)",
        title or f"TCP {direction} throughput ({flow}), {stat}{_rounds_note(df, agg)}",
        "viridis",
        agg,
        nodes,
        annotate,
    )


def _auto_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Per run and series, the raw rows when any is valid, else the grid rows (as the statistics do)."""
    if frame.empty or frame["source"].nunique() <= 1:
        return frame
    has_raw = (
        frame[(frame["source"] == "raw") & frame["value"].notna()].groupby(["run", "series"], observed=True).size()
    )
    keys = set(has_raw.index)
    mine = [(r, s) in keys for r, s in zip(frame["run"], frame["series"], strict=True)]
    keep = np.where(mine, frame["source"] == "raw", frame["source"] == "grid")
    return frame[keep]


def _default_series(frame: pd.DataFrame) -> list[str]:
    names = sorted(frame["series"].dropna().unique())
    latency = [s for s in names if s.startswith("Ping") and probe_name(s) is not None]
    totals = [s for s in names if s in ("TCP upload", "TCP download", "TCP upload sum", "TCP download sum")]
    throughput = totals or [s for s in names if s.startswith("TCP ") and not s.endswith((" avg", " totals"))]
    return latency + throughput or names


def _scale_for(unit: str) -> tuple[float, str]:
    if unit == "s":
        return MS, "round-trip time (ms)"
    if unit == "bit/s":
        return 1 / MBIT, "throughput (Mbit/s)"
    return 1.0, f"value ({unit})" if unit else "value"


def pair_timeseries(
    samples: pd.DataFrame,
    src: str,
    dst: str,
    series: str | Iterable[str] | None = None,
    *,
    run: str | None = None,
) -> Figure:
    """The samples of one pair over time, one panel per unit (latency in ms, throughput in Mbit/s).

    ``series``: a series name or names (default: the latency probes and the
    per-direction throughput totals). ``run``: an archive key, ``None`` for the
    pair's latest run, or ``"all"`` for every run on an absolute time axis.
    """
    pair = samples[(samples["src"] == src) & (samples["dst"] == dst)]
    if pair.empty:
        pairs = sorted({f"{s}->{d}" for s, d in zip(samples["src"], samples["dst"], strict=True)}, key=natural_key)
        raise ValueError(f"no samples of {src} -> {dst}; pairs with samples: {', '.join(pairs) or 'none'}")
    if run is None:
        latest = pair.sort_values("start_time")["run"].iloc[-1]
        pair = pair[pair["run"] == latest]
    elif run != "all":
        pair = pair[pair["run"] == run]
        if pair.empty:
            raise ValueError(f"no samples of {src} -> {dst} in run {run!r}")
    wanted = [series] if isinstance(series, str) else list(series) if series is not None else _default_series(pair)
    missing = [s for s in wanted if s not in set(pair["series"])]
    if missing:
        known = ", ".join(sorted(pair["series"].dropna().unique()))
        raise ValueError(f"series not in the samples of {src} -> {dst}: {', '.join(missing)}; there are: {known}")
    pair = _auto_rows(pair[pair["series"].isin(wanted)])
    unit_of = pair.drop_duplicates("series").set_index("series")["unit"].fillna("")
    units = list(dict.fromkeys(unit_of[name] for name in wanted))
    fig = _figure(9, 2.2 + 2.6 * len(units))
    axes = fig.subplots(len(units), 1, sharex=True, squeeze=False)[:, 0]
    x_column = "time" if run == "all" else "time_s"
    for ax, unit in zip(axes, units, strict=True):
        scale, label = _scale_for(unit)
        for name in wanted:
            if unit_of[name] != unit:
                continue
            color = None
            for _, rows in pair[pair["series"] == name].groupby("run", sort=False, observed=True):
                rows = rows.sort_values(x_column)  # one line per run: no line across the gap between runs
                (line,) = ax.plot(
                    rows[x_column],
                    rows["value"] * scale,
                    marker=".",
                    markersize=3,
                    linewidth=1,
                    color=color,
                    label=name if color is None else "_nolegend_",
                )
                color = line.get_color()
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    axes[-1].set_xlabel("time (UTC)" if run == "all" else "time since the test's start T0 (s)")
    first = pair.sort_values("start_time").iloc[0]
    test = first["test"] if pd.notna(first["test"]) else ""
    when = first["start_time"].strftime("%Y-%m-%d %H:%M:%S UTC") if run != "all" else "all runs"
    fig.suptitle(f"{src} → {dst}  {test}  {when}")
    return fig


def latency_cdf(
    samples: pd.DataFrame,
    pairs: Iterable[tuple[str, str]] | None = None,
    *,
    series: str | None = None,
    log: bool = False,
) -> Figure:
    """Empirical CDF of round-trip times per pair (every run of the pair pooled), in ms.

    ``series``: the latency series (default ICMP when measured, else the
    first probe series). ``pairs``: (src, dst) tuples, default every pair with samples.
    """
    latency = samples[samples["kind"] == "latency"]
    if latency.empty:
        raise ValueError("the samples have no latency series")
    names = sorted(latency["series"].dropna().unique())
    if series is None:
        by_probe = {probe_name(s): s for s in names if probe_name(s) is not None}
        probe = headline_probe(list(by_probe))
        series = by_probe[probe] if probe is not None else names[0]
    elif series not in names:
        raise ValueError(f"no latency series {series!r}; there are: {', '.join(names)}")
    rows = _auto_rows(latency[latency["series"] == series])
    if pairs is None:
        pairs = sorted(
            {(s, d) for s, d in zip(rows["src"], rows["dst"], strict=True)},
            key=lambda p: (natural_key(p[0]), natural_key(p[1])),
        )
    pairs = list(pairs)
    fig = _figure(8, 5)
    ax = fig.add_subplot()
    drawn = 0
    for src, dst in pairs:
        values = np.sort(rows.loc[(rows["src"] == src) & (rows["dst"] == dst), "value"].dropna().to_numpy()) * MS
        if values.size == 0:
            continue
        fraction = np.arange(0, values.size + 1) / values.size
        ax.step(np.concatenate([values[:1], values]), fraction, where="post", label=f"{src} → {dst} (n={values.size})")
        drawn += 1
    if drawn == 0:
        raise ValueError(f"no samples of {series} for the pairs {pairs}")
    if log:
        ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"{series}: round-trip time (ms)")
    ax.set_ylabel("fraction of samples ≤ x")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(f"Round-trip time CDF per pair ({series})")
    return fig


_FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf"}


def save(fig: Figure, path: str | os.PathLike[str], *, dpi: int = 150) -> Path:
    """Writes the figure; the format follows the suffix (.svg, .png, .pdf)."""
    target = Path(path)
    fmt = _FORMATS.get(target.suffix.lower())
    if fmt is None:
        raise ValueError(f"{target}: unknown image format {target.suffix!r}; use .svg, .png or .pdf")
    if target.parent and not target.parent.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, format=fmt, dpi=dpi, bbox_inches="tight")
    return target
