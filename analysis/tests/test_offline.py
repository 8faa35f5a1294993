"""Key encoding and the archive reader on hand-made input (no S3, no demo)."""

from __future__ import annotations

import gzip
import json
import math
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from netmon_analysis import (
    ArchiveError,
    Filter,
    archive_samples,
    archive_series,
    decode_segment,
    encode_segment,
    parse_archive_key,
    parse_result_key,
    read_archive,
    series_stats,
)


@pytest.mark.parametrize(
    ("name", "encoded"),
    [
        ("node-1", "node-1"),
        ("ip-10-0-0-1.ec2.internal", "ip-10-0-0-1.ec2.internal"),
        ("node:α/1", "node%3A%CE%B1%2F1"),
        ("with space", "with%20space"),
        ("100%", "100%25"),
        ("", "%00"),
        (".", "%2E"),
        ("..", "%2E%2E"),
    ],
)
def test_segments_encode_like_the_pipeline_and_decode_back(name: str, encoded: str) -> None:
    assert encode_segment(name) == encoded
    assert decode_segment(encoded) == name


def test_keys_parse_into_decoded_fields() -> None:
    key = "archives/night%20run/2026/11/26/node%3A1/node-2/rrul-20261126T085642.335Z.flent.gz"
    parsed = parse_archive_key(key)
    assert parsed is not None
    assert (parsed.schedule, parsed.src, parsed.dst, parsed.test) == ("night run", "node:1", "node-2", "rrul")
    assert parsed.time == datetime(2026, 11, 26, 8, 56, 42, 335000, tzinfo=timezone.utc)
    assert parse_archive_key("pre/" + key, prefix="pre/") is not None
    assert parse_archive_key("archives/x/2026/11/26/a/b/not-an-archive.txt") is None
    result = parse_result_key("results/demo/20261126T085600.000Z/node%2F1/node-2.json")
    assert result is not None and (result.round, result.src, result.dst) == ("20261126T085600.000Z", "node/1", "node-2")
    assert parse_result_key("results/demo/r/only-three.json") is None


def test_filter_checks_its_time_range() -> None:
    flt = Filter.of(since="2026-11-26T08:00:00", until="2026-11-26T10:00:00+01:00", src="a")
    assert flt.since == datetime(2026, 11, 26, 8, tzinfo=timezone.utc)  # naive means UTC
    assert flt.until == datetime(2026, 11, 26, 9, tzinfo=timezone.utc)  # converted
    with pytest.raises(ValueError, match="before until"):
        Filter.of(since="2026-11-26T09:00:00Z", until="2026-11-26T08:00:00Z")
    with pytest.raises(ValueError, match="not a time"):
        Filter.of(since="yesterday-ish")
    assert Filter.of(src=["a", "b"]).wants_pair("b", "x") and not Filter.of(src="a").wants_pair("b", "x")


def _archive(**overrides) -> dict:
    t0 = 1_800_000_000.0
    document = {
        "version": 4,
        "metadata": {
            "NAME": "ping",
            "TIME": "2027-01-15T08:00:00.000000",
            "T0": "2027-01-15T08:00:00.000000",  # naive UTC, as flent writes it
            "LENGTH": 1,
            "TOTAL_LENGTH": 1,
            "STEP_SIZE": 0.25,
            "FLENT_VERSION": "2.1.1",
            "SERIES_META": {"Ping (ms) ICMP": {"UNITS": "ms", "RUNNER": "PingRunner"}},
        },
        "x_values": [0.0, 0.25, 0.5, 0.75],
        "results": {"Ping (ms) ICMP": [1.0, None, 3.0, 2.0], "TCP upload": [None, 10.0, 20.0, None]},
        "raw_values": {
            "Ping (ms) ICMP": [
                {"t": t0 + 0.1, "val": 1.0, "seq": 0},
                {"t": t0 + 0.35, "val": None, "seq": 1},
                {"t": t0 + 0.6, "lost": True, "seq": 2},
            ]
        },
    }
    document["metadata"]["T0"] = datetime.fromtimestamp(t0, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")
    for key, value in overrides.items():
        document[key] = value
    return document


def _gz(document) -> bytes:
    return gzip.compress(json.dumps(document).encode())


def test_null_and_lost_samples_become_nan_and_the_rules_hold() -> None:
    archive = read_archive(_gz(_archive()))
    samples = archive_samples(archive, run="r", values="all")
    icmp_raw = samples[(samples["series"] == "Ping (ms) ICMP") & (samples["source"] == "raw")]
    assert icmp_raw["value"].tolist()[0] == pytest.approx(1e-3)
    assert icmp_raw["value"].isna().tolist() == [False, True, True]
    assert icmp_raw["lost"].tolist() == [False, False, True]
    assert icmp_raw["time_s"].to_numpy() == pytest.approx([0.1, 0.35, 0.6], abs=1e-6)
    tcp = samples[samples["series"] == "TCP upload"]  # no UNITS: the name says Mbits/s; grid only
    assert set(tcp["source"]) == {"grid"} and set(tcp["unit"]) == {"bit/s"}
    assert tcp["value"].tolist()[1:3] == [10e6, 20e6] and tcp["value"].isna().sum() == 2
    assert str(samples["time"].dtype) == "datetime64[ns, UTC]"

    stats = series_stats(archive_samples(archive, run="r"), archive_series(archive, run="r")).set_index("series")
    icmp = stats.loc["Ping (ms) ICMP"]
    assert icmp["count"] == 1 and icmp["min"] == pytest.approx(1e-3) and icmp["mean_source"] == "samples"
    # Probe series without a tool loss rate: 1 - received / round(TOTAL_LENGTH / STEP_SIZE) = 1 - 1/4.
    assert icmp["loss_ratio"] == pytest.approx(0.75)
    up = stats.loc["TCP upload"]
    assert up["count"] == 2 and up["median"] == pytest.approx(15e6) and math.isnan(up["loss_ratio"])
    assert up["p99"] == pytest.approx(float(np.percentile([10e6, 20e6], 99)))


def test_the_tool_mean_wins_when_recorded() -> None:
    document = _archive()
    document["metadata"]["SERIES_META"]["TCP upload"] = {"UNITS": "Mbits/s", "MEAN_VALUE": 12.5}
    archive = read_archive(_gz(document))
    stats = series_stats(archive_samples(archive, run="r"), archive_series(archive, run="r")).set_index("series")
    assert stats.loc["TCP upload", "mean"] == pytest.approx(12.5e6)
    assert stats.loc["TCP upload", "mean_source"] == "tool"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not gzip at all", "not valid gzip data"),
        (_gz(_archive())[:40], "truncated gzip data"),
        (gzip.compress(b"{not json"), "not valid JSON"),
        (_gz({"metadata": {"NAME": "x"}}), "metadata.TIME"),
        (_gz(_archive(results={"a": ["x"]})), "results.a"),
        (_gz(_archive(x_values="nope")), "x_values"),
    ],
)
def test_bad_archives_give_one_line_errors(data: bytes, message: str) -> None:
    with pytest.raises(ArchiveError, match=message) as err:
        read_archive(data, name="bad.flent.gz")
    assert "\n" not in str(err.value) and str(err.value).startswith("bad.flent.gz: ")


def test_archives_over_the_size_limits_are_refused() -> None:
    data = _gz(_archive())
    with pytest.raises(ArchiveError, match="compressed bytes"):
        read_archive(data, max_compressed_bytes=10)
    with pytest.raises(ArchiveError, match="decompresses to more than 100 bytes"):
        read_archive(data, max_decompressed_bytes=100)


def test_empty_inputs_give_typed_empty_frames() -> None:
    from netmon_analysis import summary_frame

    frame = summary_frame([])
    assert frame.empty and str(frame["time"].dtype) == "datetime64[ns, UTC]"
    assert frame["latency_median_s"].dtype == np.float64
    assert isinstance(frame["src"].dtype, pd.StringDtype)


def test_summary_of_loaded_records_applies_the_filters() -> None:
    from netmon_analysis import summary_frame

    base = {"version": 1, "schedule": "s", "round": "r", "test": "ping", "connectivity": 0, "reason": "timeout"}
    records = [
        {
            **base,
            "src": "a",
            "dst": "b",
            "startTime": "2026-11-26T08:00:00.000Z",
            "endTime": "2026-11-26T08:00:09.000Z",
        },
        {
            **base,
            "src": "b",
            "dst": "a",
            "startTime": "2026-11-26T09:00:00.000Z",
            "endTime": "2026-11-26T09:00:09.000Z",
        },
    ]
    assert summary_frame(records)["src"].tolist() == ["a", "b"]
    assert summary_frame(records, src="b")["src"].tolist() == ["b"]
    assert summary_frame(records, until="2026-11-26T08:30:00Z")["src"].tolist() == ["a"]
    assert summary_frame(records, test="rrul").empty
    frame = summary_frame(records)
    assert frame["reason"].tolist() == ["timeout", "timeout"] and frame["latency_median_s"].isna().all()
