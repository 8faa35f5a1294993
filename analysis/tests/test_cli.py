"""The netmon-analysis command (the installed console script) against the demo's S3."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest

from conftest import CUT, NODES, SCHEDULE, Demo
from netmon_analysis.frames import SUMMARY_COLUMNS

SCRIPT = Path(sys.executable).with_name("netmon-analysis")


def run(demo: Demo, cache: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "NETMON_"))}
    return subprocess.run(
        [str(SCRIPT), *args, "--demo", str(demo.out), "--cache-dir", str(cache)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )


def test_help_lists_the_commands() -> None:
    done = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True, check=True)
    for command in ("pull", "table", "plot", "schedules"):
        assert command in done.stdout


def test_pull_prints_counts_and_the_second_pull_downloads_nothing(demo: Demo, tmp_path: Path) -> None:
    first = run(demo, tmp_path, "pull", "--schedule", SCHEDULE)
    assert first.returncode == 0, first.stderr
    pairs = len(NODES) * (len(NODES) - 1)
    assert f"{pairs} result records, {pairs - 1} archives: {2 * pairs - 1} downloaded" in first.stdout
    second = run(demo, tmp_path, "pull", "--schedule", SCHEDULE)
    assert second.returncode == 0, second.stderr
    assert f"0 downloaded (0 bytes), {2 * pairs - 1} already cached" in second.stdout


def test_table_csv_parses_back(demo: Demo, tmp_path: Path) -> None:
    done = run(demo, tmp_path, "table", "--schedule", SCHEDULE, "--csv")
    assert done.returncode == 0, done.stderr
    frame = pd.read_csv(io.StringIO(done.stdout), parse_dates=["time", "end_time"])
    assert list(frame.columns) == list(SUMMARY_COLUMNS)
    assert len(frame) == len(NODES) * (len(NODES) - 1)
    cut = frame[(frame["src"] == CUT[0]) & (frame["dst"] == CUT[1])].iloc[0]
    assert cut["connectivity"] == 0 and cut["reason"] == "unreachable" and pd.isna(cut["latency_median_s"])
    assert str(frame["time"].dt.tz) == "UTC"

    out = tmp_path / "only-node-2.csv"
    done = run(demo, tmp_path, "table", "--src", "node-2", "--csv", "-o", str(out))
    assert done.returncode == 0 and done.stdout == ""
    assert set(pd.read_csv(out)["src"]) == {"node-2"}

    human = run(demo, tmp_path, "table", "--schedule", SCHEDULE)
    assert human.returncode == 0 and "latency median (ms)" in human.stdout and "unreachable" in human.stdout

    stats = run(demo, tmp_path, "table", "--kind", "stats", "--src", "node-3", "--dst", "node-2", "--csv")
    assert stats.returncode == 0, stats.stderr
    frame = pd.read_csv(io.StringIO(stats.stdout))
    assert "Ping (ms) ICMP" in set(frame["series"]) and frame["run"].nunique() == 1


def test_unknown_schedule_exits_2_naming_it_and_the_known_ones(demo: Demo, tmp_path: Path) -> None:
    for command in (["table"], ["pull"], ["plot", "latency-matrix", "-o", str(tmp_path / "x.svg")]):
        done = run(demo, tmp_path, *command, "--schedule", "nightly")
        assert done.returncode == 2, (command, done.stderr)
        assert "unknown schedule 'nightly'" in done.stderr and "known schedules: demo" in done.stderr
        assert "Traceback" not in done.stderr


def test_empty_time_range_says_so(demo: Demo, tmp_path: Path) -> None:
    done = run(demo, tmp_path, "table", "--schedule", SCHEDULE, "--since", "2100-01-01")
    assert done.returncode == 1
    assert "no result records match" in done.stderr and "the time range is empty" in done.stderr
    assert "archives from" in done.stderr  # and where the data is
    bad = run(demo, tmp_path, "table", "--since", "2026-12-02", "--until", "2026-12-01")
    assert bad.returncode == 2 and "must be before until" in bad.stderr
    nonsense = run(demo, tmp_path, "table", "--since", "last tuesday")
    assert nonsense.returncode == 2 and "not a time" in nonsense.stderr


@pytest.mark.parametrize(
    ("kind", "extra", "suffix"),
    [
        ("latency-matrix", [], ".svg"),
        ("throughput-matrix", ["--direction", "download"], ".png"),
        ("timeseries", ["--src", "node-1", "--dst", "node-2"], ".svg"),
        ("cdf", ["--series", "Ping (ms) UDP BE"], ".png"),
    ],
)
def test_plot_writes_the_file(demo: Demo, tmp_path: Path, kind: str, extra: list[str], suffix: str) -> None:
    out = tmp_path / f"figure{suffix}"
    done = run(demo, tmp_path, "plot", kind, "--schedule", SCHEDULE, *extra, "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert f"wrote {out}" in done.stdout
    if suffix == ".svg":
        assert ET.parse(out).getroot().tag.endswith("svg")
    else:
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_usage_errors_exit_2(demo: Demo, tmp_path: Path) -> None:
    missing = run(demo, tmp_path, "plot", "timeseries", "-o", str(tmp_path / "x.svg"))
    assert missing.returncode == 2 and "exactly one --src and one --dst" in missing.stderr
    fmt = run(demo, tmp_path, "plot", "latency-matrix", "-o", str(tmp_path / "x.gif"))
    assert fmt.returncode == 2 and "unknown image format" in fmt.stderr
    kind = run(demo, tmp_path, "plot", "pie", "-o", str(tmp_path / "x.svg"))
    assert kind.returncode == 2 and "invalid choice" in kind.stderr


def test_unreachable_endpoint_is_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "NETMON_"))}
    done = subprocess.run(
        [
            str(SCRIPT),
            "table",
            "--endpoint",
            "http://127.0.0.1:9",
            "--bucket",
            "b",
            "--access-key",
            "x",
            "--secret-key",
            "y",
            "--cache-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "127.0.0.1:9" in done.stderr and len(done.stderr.strip().splitlines()) == 1
