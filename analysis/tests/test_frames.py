"""The summary and samples frames of real demo results, and their agreement with the TypeScript parser."""

from __future__ import annotations

import json
import math
import subprocess

import numpy as np
import pandas as pd
import pytest

from conftest import CLI, CUT, NODE, NODES, REPO, SCHEDULE, Demo
from netmon_analysis import S3Source, archive_samples, read_archive, series_stats, series_summary_frame
from netmon_analysis.flent import SAMPLE_COLUMNS
from netmon_analysis.frames import SUMMARY_COLUMNS

REL = 1e-9


def test_summary_has_one_row_per_test_with_typed_columns(summary: pd.DataFrame) -> None:
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    assert len(summary) == len(NODES) * (len(NODES) - 1)
    assert not summary.duplicated(["src", "dst"]).any()
    assert str(summary["time"].dtype) == "datetime64[ns, UTC]"
    assert str(summary["end_time"].dtype) == "datetime64[ns, UTC]"
    for name in ("schedule", "round", "src", "dst", "test", "reason", "run_id", "archive_key"):
        assert isinstance(summary[name].dtype, pd.StringDtype), name
    assert isinstance(summary["connectivity"].dtype, pd.Int64Dtype) and summary["measured"].all()
    for name in [c for c in summary.columns if c.endswith(("_s", "_bps", "_ratio"))] + ["exit_code", "latency_count"]:
        assert summary[name].dtype == np.float64, name
    assert summary["time"].is_monotonic_increasing
    assert (summary["end_time"] > summary["time"]).all()
    assert set(summary["schedule"]) == {SCHEDULE} and set(summary["test"]) == {"rrul"}


def test_the_cut_pair_is_a_failure_with_nan_figures(summary: pd.DataFrame) -> None:
    cut = summary[(summary["src"] == CUT[0]) & (summary["dst"] == CUT[1])].iloc[0]
    assert cut["connectivity"] == 0 and cut["reason"] == "unreachable"
    assert pd.isna(cut["archive_key"]) and pd.isna(cut["latency_series"])
    figures = [c for c in SUMMARY_COLUMNS if c.startswith(("latency_", "throughput_")) and c != "latency_series"]
    assert all(math.isnan(cut[c]) for c in figures + ["loss_ratio"])
    ok = summary[summary["connectivity"] == 1]
    assert len(ok) == len(summary) - 1 and ok["reason"].isna().all()
    assert (ok["latency_series"] == "Ping (ms) ICMP").all()
    assert ok[figures].notna().all().all()
    assert ((ok["loss_ratio"] >= 0) & (ok["loss_ratio"] <= 1)).all()
    assert (ok["latency_min_s"] <= ok["latency_median_s"]).all() and (
        ok["latency_median_s"] <= ok["latency_max_s"]
    ).all()
    assert (ok["throughput_upload_mean_bps"] > 1e5).all() and (ok["throughput_download_mean_bps"] > 1e5).all()


def test_summary_agrees_with_the_demo_table(summary: pd.DataFrame, demo: Demo) -> None:
    """The demo's summary.json: measured = upload mean (rrul), latency = median ICMP round trip."""
    frame = summary.set_index(["src", "dst"])
    for pair in demo.summary["pairs"]:
        row = frame.loc[(pair["src"], pair["dst"])]
        assert row["connectivity"] == pair["connectivity"]
        for column, key in (
            ("throughput_upload_mean_bps", "measuredBitsPerSecond"),
            ("latency_median_s", "latencySeconds"),
        ):
            if pair[key] is None:
                assert math.isnan(row[column])
            else:
                assert row[column] == pytest.approx(pair[key], rel=REL)


def test_samples_are_tidy_and_typed(samples: pd.DataFrame, summary: pd.DataFrame) -> None:
    assert list(samples.columns) == list(SAMPLE_COLUMNS)
    for name, dtype in SAMPLE_COLUMNS.items():
        assert str(samples[name].dtype) == dtype or (
            dtype == "string" and isinstance(samples[name].dtype, pd.StringDtype)
        ), name
    assert set(samples["run"]) == set(summary["archive_key"].dropna())
    # one run per archive, and each run's key fields agree with the result record
    keyed = summary.dropna(subset=["archive_key"]).set_index("archive_key")
    for run, group in samples.groupby("run", observed=True):
        assert group[["schedule", "src", "dst", "test"]].drop_duplicates().values.tolist() == [
            [SCHEDULE, keyed.loc[run, "src"], keyed.loc[run, "dst"], "rrul"]
        ]
        series = set(group["series"])
        assert {"Ping (ms) ICMP", "Ping (ms) UDP BE", "TCP upload sum", "TCP download sum"} <= series
        # values="auto": each series once, raw samples where it has any, else flent's grid
        assert group.groupby("series", observed=True)["source"].nunique().max() == 1
        assert (group.loc[group["series"] == "Ping (ms) ICMP", "source"] == "raw").all()
        assert (group.loc[group["series"] == "TCP upload sum", "source"] == "grid").all()
    assert set(samples.loc[samples["series"].str.startswith("Ping"), "unit"]) == {"s"}
    assert set(samples.loc[samples["series"].str.startswith("TCP"), "unit"]) == {"bit/s"}
    assert set(samples["kind"]) == {"latency", "throughput"}
    values = samples["value"].dropna()
    assert (values >= 0).all() and len(values) > 500
    assert samples["time_s"].between(-1, 30).all()  # offsets from T0 over a few seconds
    offsets = (samples["time"] - samples["start_time"]).dt.total_seconds()
    assert np.allclose(offsets, samples["time_s"], atol=1e-6)
    assert samples.loc[samples["lost"], "value"].isna().all()
    latency = samples[(samples["kind"] == "latency") & samples["value"].notna()]["value"]
    assert latency.max() < 1.0  # seconds, not ms


def test_samples_values_choice(source: S3Source) -> None:
    key = source.list_archives(schedule=SCHEDULE)[0][1].key
    parsed, path = next((p, path) for p, path in source.archives(schedule=SCHEDULE) if p.key == key)
    archive = read_archive(path)
    both = archive_samples(archive, values="all")
    grid = archive_samples(archive, values="grid")
    raw = archive_samples(archive, values="raw")
    assert len(both) == len(grid) + len(raw)
    for name, values in archive.results.items():
        rows = grid[grid["series"] == name]
        assert len(rows) == len(values)
        assert rows["time_s"].tolist() == archive.x_values[: len(values)]
        assert rows["value"].isna().sum() == sum(v is None for v in values)


def _ts_summary(path) -> dict:
    done = subprocess.run(
        [str(NODE), str(CLI), "flent", "summary", str(path), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _agree(ts_value, py_value) -> bool:
    if ts_value is None:
        return math.isnan(py_value)
    return math.isclose(ts_value, py_value, rel_tol=REL, abs_tol=0.0)


def test_figures_agree_with_the_typescript_parser(source: S3Source, samples_and_series) -> None:
    """For every archive: `netmon flent summary FILE --json` against stats from the samples frame."""
    samples, series = samples_and_series
    stats = series_stats(samples, series)
    records = {r["archiveKey"]: r for r in source.records(schedule=SCHEDULE) if r["archiveKey"]}
    compared = 0
    archives = source.archives(schedule=SCHEDULE)
    assert len(archives) == len(NODES) * (len(NODES) - 1) - 1
    for parsed, path in archives:
        ts = _ts_summary(path)
        mine = stats[stats["run"] == parsed.key].set_index("series")
        assert set(mine.index) == set(ts["series"]), parsed.key
        stored = records[parsed.key]["summary"]["series"]  # what the pipeline computed when it ran the test
        for name, theirs in ts["series"].items():
            row = mine.loc[name]
            assert row["unit"] == theirs["unit"] and row["kind"] == theirs["kind"], (parsed.key, name)
            assert row["count"] == theirs["count"], (parsed.key, name)
            for stat in ("min", "mean", "median", "p99", "max"):
                assert _agree(theirs[stat], row[stat]), (parsed.key, name, stat, theirs[stat], row[stat])
                assert _agree(stored[name][stat], row[stat]), (parsed.key, name, stat, "stored record")
            assert _agree(theirs["lossRatio"], row["loss_ratio"]), (parsed.key, name, "lossRatio")
            compared += 1
    assert compared >= 5 * 17  # rrul: 17 series per archive


def test_series_summary_frame_has_every_probe_and_flow(source: S3Source) -> None:
    frame = series_summary_frame(source, schedule=SCHEDULE)
    assert set(frame["probe"].dropna()) == {"icmp", "udp_be", "udp_bk", "udp_ef"}
    assert frame.groupby(["src", "dst"]).size().min() >= 17
    assert not ((frame["src"] == CUT[0]) & (frame["dst"] == CUT[1])).any()
    assert frame["count"].dtype == np.float64 and str(frame["time"].dtype) == "datetime64[ns, UTC]"
