"""Tests that broke and measured nothing (connectivity null, issue 14), on hand-made records (no S3, no demo)."""

from __future__ import annotations

import math

import pandas as pd

from netmon_analysis import latency_matrix, summary_frame
from netmon_analysis.plots import _pair_values
from netmon_analysis.s3 import _record_problem


def _record(
    src: str, dst: str, start: str, connectivity: int | None, reason: str | None, median: float | None
) -> dict:
    stats = {"count": 10, "lossRatio": 0, **{stat: median for stat in ("min", "mean", "median", "p99", "max")}}
    summary = None if median is None else {"latency": {"Ping (ms) ICMP": stats}}
    return {
        "version": 1,
        "schedule": "s",
        "round": start,
        "src": src,
        "dst": dst,
        "test": "ping",
        "startTime": start,
        "endTime": start,
        "connectivity": connectivity,
        "reason": reason,
        "summary": summary,
    }


RECORDS = [
    _record("a", "b", "2026-11-26T08:00:00.000Z", 1, None, 0.002),
    _record("a", "b", "2026-11-26T09:00:00.000Z", None, "oom-killed", None),
    _record("b", "a", "2026-11-26T08:00:00.000Z", 0, "unreachable", None),
    _record("b", "c", "2026-11-26T08:00:00.000Z", None, "store-unavailable", None),
]


def test_a_broken_test_has_connectivity_na_measured_false_and_its_reason() -> None:
    frame = summary_frame(RECORDS)
    assert isinstance(frame["connectivity"].dtype, pd.Int64Dtype)
    assert frame["measured"].dtype == bool
    broke = frame[(frame["src"] == "a") & (frame["dst"] == "b")].iloc[-1]
    assert pd.isna(broke["connectivity"]) and not broke["measured"] and broke["reason"] == "oom-killed"
    assert math.isnan(broke["latency_median_s"])
    found = frame[(frame["src"] == "b") & (frame["dst"] == "a")].iloc[0]
    assert found["connectivity"] == 0 and found["measured"] and found["reason"] == "unreachable"
    ok = frame[frame["connectivity"] == 1]
    assert len(ok) == 1 and ok["measured"].all() and ok["reason"].isna().all()
    # Analysts drop what measured nothing with one filter; the rest are network findings.
    assert frame[frame["measured"]]["connectivity"].tolist() == [1, 0]


def test_matrices_take_the_last_measured_test_and_name_pairs_never_measured() -> None:
    frame = summary_frame(RECORDS)
    values, failures, unmeasured = _pair_values(frame, "latency_median_s", "latest")
    # a -> b broke after a success: the success's figure stays, not a failure.
    assert values[("a", "b")] == 0.002 and ("a", "b") not in failures
    assert failures[("b", "a")] == "unreachable"
    assert unmeasured == {("b", "c"): "store-unavailable"}
    mean_values, mean_failures, _ = _pair_values(frame, "latency_median_s", "mean")
    assert mean_values[("a", "b")] == 0.002 and ("a", "b") not in mean_failures
    latency_matrix(frame)  # draws, NA and all


def test_the_s3_reader_accepts_null_connectivity_and_refuses_other_values() -> None:
    assert _record_problem(RECORDS[1]) is None
    assert _record_problem({**RECORDS[0], "connectivity": 2}) == "connectivity 2, expected 0, 1 or null"
    assert "connectivity" in (_record_problem({k: v for k, v in RECORDS[0].items() if k != "connectivity"}) or "")
