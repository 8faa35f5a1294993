"""The figures' content: cells, tick labels, axis labels, colorbars, lines with data; files that parse."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from conftest import CUT, NODES
from netmon_analysis import latency_cdf, latency_matrix, pair_timeseries, save, throughput_matrix

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _matrix_parts(fig: Figure):
    main, colorbar = fig.axes  # the heatmap and its colorbar
    images = main.get_images()
    assert len(images) == 1
    return main, colorbar, images[0].get_array()


@pytest.mark.parametrize(
    ("draw", "column", "scale", "unit"),
    [
        (lambda df: latency_matrix(df), "latency_median_s", 1e3, "(ms)"),
        (lambda df: latency_matrix(df, stat="p99"), "latency_p99_s", 1e3, "(ms)"),
        (lambda df: throughput_matrix(df), "throughput_upload_mean_bps", 1e-6, "(Mbit/s)"),
        (
            lambda df: throughput_matrix(df, direction="download", stat="median"),
            "throughput_download_median_bps",
            1e-6,
            "(Mbit/s)",
        ),
    ],
)
def test_matrix_has_one_cell_per_ordered_pair(
    summary: pd.DataFrame, draw, column: str, scale: float, unit: str
) -> None:
    fig = draw(summary)
    assert isinstance(fig, Figure)
    ax, colorbar, cells = _matrix_parts(fig)
    assert cells.shape == (len(NODES), len(NODES))
    assert [t.get_text() for t in ax.get_xticklabels()] == NODES
    assert [t.get_text() for t in ax.get_yticklabels()] == NODES
    assert "dst" in ax.get_xlabel() and "src" in ax.get_ylabel() and ax.get_title()
    assert unit in colorbar.get_ylabel()
    mask = np.ma.getmaskarray(cells)
    assert mask.diagonal().all()  # no test of a node with itself: empty
    cut = (NODES.index(CUT[0]), NODES.index(CUT[1]))
    assert mask[cut]  # the failed pair: empty, and its reason written in the cell
    assert any("unreachable" in t.get_text() for t in ax.texts)
    assert mask.sum() == len(NODES) + 1
    expected = summary.set_index(["src", "dst"])[column]
    for i, src in enumerate(NODES):
        for j, dst in enumerate(NODES):
            if not mask[i, j]:
                assert cells[i, j] == pytest.approx(expected[(src, dst)] * scale)


def test_timeseries_of_a_pair_has_a_panel_per_unit_with_data(samples: pd.DataFrame) -> None:
    fig = pair_timeseries(samples, "node-2", "node-3")
    latency, throughput = fig.axes
    assert "(ms)" in latency.get_ylabel() and "(Mbit/s)" in throughput.get_ylabel()
    assert "(s)" in throughput.get_xlabel()
    names = {line.get_label() for line in latency.get_lines()}
    assert {"Ping (ms) ICMP", "Ping (ms) UDP BE", "Ping (ms) UDP BK", "Ping (ms) UDP EF"} == names
    assert {line.get_label() for line in throughput.get_lines()} == {"TCP upload sum", "TCP download sum"}
    for line in latency.get_lines() + throughput.get_lines():
        y = np.asarray(line.get_ydata(), dtype=float)
        assert len(line.get_xdata()) > 3 and np.isfinite(y).sum() > 3
    icmp = next(line for line in latency.get_lines() if line.get_label() == "Ping (ms) ICMP")
    raw = samples[(samples["src"] == "node-2") & (samples["dst"] == "node-3") & (samples["series"] == "Ping (ms) ICMP")]
    assert np.nanmax(icmp.get_ydata()) == pytest.approx(raw["value"].max() * 1e3)

    every = pair_timeseries(samples, "node-2", "node-3", run="all")
    assert every.axes[-1].get_xlabel() == "time (UTC)" and len(every.axes[0].get_lines()) == 4

    one = pair_timeseries(samples, "node-3", "node-1", "TCP upload BE")
    assert len(one.axes) == 1 and [line.get_label() for line in one.axes[0].get_lines()] == ["TCP upload BE"]
    with pytest.raises(ValueError, match="pairs with samples"):
        pair_timeseries(samples, *CUT)
    with pytest.raises(ValueError, match="there are"):
        pair_timeseries(samples, "node-2", "node-3", "No such series")


def test_latency_cdf_has_a_line_per_pair(samples: pd.DataFrame) -> None:
    fig = latency_cdf(samples)
    (ax,) = fig.axes
    lines = ax.get_lines()
    pairs = {(s, d) for s in NODES for d in NODES if s != d} - {CUT}
    assert len(lines) == len(pairs)
    assert {line.get_label().split(" (n=")[0] for line in lines} == {f"{s} → {d}" for s, d in pairs}
    for line in lines:
        x, y = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
        assert len(x) > 5 and y[-1] == pytest.approx(1.0) and (np.diff(x) >= 0).all() and (np.diff(y) >= 0).all()
    assert "(ms)" in ax.get_xlabel() and ax.get_ylabel()
    chosen = latency_cdf(samples, pairs=[("node-2", "node-1")], series="Ping (ms) UDP EF", log=True)
    assert len(chosen.axes[0].get_lines()) == 1 and "UDP EF" in chosen.axes[0].get_xlabel()


def test_saved_files_are_valid_svg_and_png(summary: pd.DataFrame, samples: pd.DataFrame, tmp_path) -> None:
    figures = {
        "latency": latency_matrix(summary),
        "throughput": throughput_matrix(summary),
        "series": pair_timeseries(samples, "node-1", "node-2"),
        "cdf": latency_cdf(samples),
    }
    for name, fig in figures.items():
        svg = save(fig, tmp_path / f"{name}.svg")
        root = ET.parse(svg).getroot()
        assert root.tag.endswith("svg")
        text = svg.read_text()
        assert "node-1" in text or name == "series"  # labels are in the file (as glyph ids or text)
        png = save(fig, tmp_path / "sub" / f"{name}.png")
        assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 5000
    with pytest.raises(ValueError, match="unknown image format"):
        save(figures["cdf"], tmp_path / "x.jpeg")
