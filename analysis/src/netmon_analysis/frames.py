"""Result records and archives from S3 into pandas DataFrames."""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any, Iterable, Sequence, Union

import pandas as pd

from .filters import Filter
from .flent import (
    SAMPLE_COLUMNS,
    SERIES_COLUMNS,
    ArchiveError,
    _typed,
    archive_samples,
    archive_series,
    read_archive,
)
from .headline import headline_series, probe_name
from .keys import ArchiveKey, parse_archive_key
from .s3 import S3Source

LATENCY_STATS = ("min", "mean", "median", "p99", "max")
THROUGHPUT_STATS = ("min", "mean", "median", "p99", "max")

SUMMARY_COLUMNS: dict[str, str] = {
    "time": "datetime64[ns, UTC]",
    "end_time": "datetime64[ns, UTC]",
    "schedule": "string",
    "round": "string",
    "src": "string",
    "dst": "string",
    "test": "string",
    "connectivity": "Int64",
    "measured": "bool",
    "reason": "string",
    "message": "string",
    "exit_code": "float64",
    "duration_s": "float64",
    "latency_series": "string",
    "latency_count": "float64",
    **{f"latency_{stat}_s": "float64" for stat in LATENCY_STATS},
    "loss_ratio": "float64",
    **{f"throughput_{d}_{stat}_bps": "float64" for d in ("upload", "download") for stat in THROUGHPUT_STATS},
    "one_way_probe": "string",
    "one_way_delay_up_s": "float64",
    "one_way_delay_down_s": "float64",
    "loss_up_ratio": "float64",
    "loss_down_ratio": "float64",
    "clock_offset_s": "float64",
    "clock_error_bound_s": "float64",
    "one_way_delay_trusted": "boolean",
    "run_id": "string",
    "archive_key": "string",
    "result_key": "string",
}

SERIES_SUMMARY_COLUMNS: dict[str, str] = {
    "time": "datetime64[ns, UTC]",
    "schedule": "string",
    "round": "string",
    "src": "string",
    "dst": "string",
    "test": "string",
    "series": "string",
    "probe": "string",
    "kind": "string",
    "unit": "string",
    "runner": "string",
    "count": "float64",
    "min": "float64",
    "mean": "float64",
    "median": "float64",
    "p99": "float64",
    "max": "float64",
    "loss_ratio": "float64",
    "run_id": "string",
}

Records = Union[S3Source, Iterable[dict]]


def _num(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    return float(value)


def _connectivity(record: dict) -> Any:
    """1 or 0 as recorded; ``pd.NA`` when the test broke and measured nothing (connectivity null, see ``reason``)."""
    value = record.get("connectivity")
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return pd.NA
    return int(value)


def primary_latency_series(summary: dict[str, Any]) -> str | None:
    """The series behind the ``latency_*`` columns: the headline probe's (ICMP when measured; see headline.py)."""
    return headline_series(summary)


def _records(source: Records, flt: Filter) -> list[dict]:
    if isinstance(source, S3Source):
        return source.records(flt)
    return [record for record in source if _wanted(record, flt)]


def _wanted(record: dict, flt: Filter) -> bool:
    start = pd.Timestamp(record.get("startTime")) if record.get("startTime") else None
    if start is not None:
        start = (start.tz_localize("UTC") if start.tzinfo is None else start).to_pydatetime()
    return (
        flt.wants_schedule(str(record.get("schedule")))
        and flt.wants_pair(str(record.get("src")), str(record.get("dst")))
        and flt.wants_test(str(record.get("test")))
        and flt.wants_time(start)
    )


def summary_frame(source: Records, **filters: Any) -> pd.DataFrame:
    """One row per test (success or failure) from the result records; see the package README for the columns.

    ``source`` is an S3Source (then ``schedule``, ``since``, ``until``, ``src``,
    ``dst`` and ``test`` filter) or result records already loaded (dicts).
    Figures are in base units (s, bit/s, ratio); a figure the test did not
    produce is NaN. Throughput ``upload`` is the data flowing src -> dst,
    ``download`` dst -> src. ``connectivity`` (nullable Int64) is 1 or 0 for a
    measured test and ``<NA>`` for one that broke and measured nothing (an
    infrastructure failure: tool-error, oom-killed, deadline-exceeded,
    store-unavailable); ``measured`` is False then and ``reason`` says why.
    """
    flt = Filter.of(**filters)
    rows = []
    for record in _records(source, flt):
        summary = record.get("summary") if isinstance(record.get("summary"), dict) else None
        row: dict[str, Any] = {
            "time": record.get("startTime"),
            "end_time": record.get("endTime"),
            "schedule": record.get("schedule"),
            "round": record.get("round"),
            "src": record.get("src"),
            "dst": record.get("dst"),
            "test": record.get("test"),
            "connectivity": _connectivity(record),
            "measured": _connectivity(record) is not pd.NA,
            "reason": record.get("reason"),
            "message": record.get("message"),
            "exit_code": _num(record.get("exitCode")),
            "duration_s": _num(record.get("durationSeconds")),
            "run_id": record.get("runId"),
            "archive_key": record.get("archiveKey"),
            "result_key": record.get("_key"),
        }
        name = primary_latency_series(summary) if summary else None
        stats = (summary.get("latency") or {}).get(name, {}) if summary and name else {}
        row["latency_series"] = name
        row["latency_count"] = _num(stats.get("count"))
        for stat in LATENCY_STATS:
            row[f"latency_{stat}_s"] = _num(stats.get(stat))
        row["loss_ratio"] = _num(stats.get("lossRatio"))
        throughput = (summary or {}).get("throughput") or {}
        for direction in ("upload", "download"):
            total = (throughput.get(direction) or {}).get("total") or {}
            for stat in THROUGHPUT_STATS:
                row[f"throughput_{direction}_{stat}_bps"] = _num(total.get(stat))
        row.update(_one_way_columns(record.get("oneWay")))
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    frame = _typed(frame, SUMMARY_COLUMNS)
    return frame.sort_values(["time", "src", "dst"], ignore_index=True, kind="stable")


def _one_way_columns(one_way: Any) -> dict[str, Any]:
    """The record's published one-way figures (udp_latency): up is src -> dst, down dst -> src."""
    if not isinstance(one_way, dict):
        return {"one_way_probe": None, "one_way_delay_trusted": None}
    delay = one_way.get("delaySeconds") or {}
    loss = one_way.get("lossRatio") or {}
    return {
        "one_way_probe": one_way.get("probe"),
        "one_way_delay_up_s": _num(delay.get("src_to_dst")),
        "one_way_delay_down_s": _num(delay.get("dst_to_src")),
        "loss_up_ratio": _num(loss.get("src_to_dst")),
        "loss_down_ratio": _num(loss.get("dst_to_src")),
        "clock_offset_s": _num(one_way.get("clockOffsetSeconds")),
        "clock_error_bound_s": _num(one_way.get("clockErrorBoundSeconds")),
        "one_way_delay_trusted": bool(one_way.get("trusted")),
    }


def series_summary_frame(source: Records, **filters: Any) -> pd.DataFrame:
    """One row per test and Flent series (every latency probe, every flow) from the result records.

    Tests that measured nothing have no rows here (see ``summary_frame``).
    """
    flt = Filter.of(**filters)
    rows = []
    for record in _records(source, flt):
        summary = record.get("summary")
        if not isinstance(summary, dict):
            continue
        for name, stats in sorted((summary.get("series") or {}).items()):
            if not isinstance(stats, dict):
                continue
            kind = stats.get("kind")
            rows.append(
                {
                    "time": record.get("startTime"),
                    "schedule": record.get("schedule"),
                    "round": record.get("round"),
                    "src": record.get("src"),
                    "dst": record.get("dst"),
                    "test": record.get("test"),
                    "series": name,
                    "probe": probe_name(name) if kind == "latency" else None,
                    "kind": kind,
                    "unit": stats.get("unit"),
                    "runner": stats.get("runner"),
                    **{stat: _num(stats.get(stat)) for stat in ("count", "min", "mean", "median", "p99", "max")},
                    "loss_ratio": _num(stats.get("lossRatio")),
                    "run_id": record.get("runId"),
                }
            )
    frame = _typed(pd.DataFrame(rows, columns=list(SERIES_SUMMARY_COLUMNS)), SERIES_SUMMARY_COLUMNS)
    return frame.sort_values(["time", "src", "dst", "series"], ignore_index=True, kind="stable")


ArchiveInput = Union[S3Source, Sequence[Union[str, os.PathLike, tuple]]]


def _archive_inputs(source: ArchiveInput, flt: Filter) -> list[tuple[ArchiveKey | None, Path, str]]:
    if isinstance(source, S3Source):
        return [(parsed, path, parsed.key) for parsed, path in source.archives(flt)]
    out = []
    for item in source:
        if isinstance(item, tuple):
            parsed, path = item
            out.append((parsed, Path(path), parsed.key if parsed is not None else str(path)))
        else:
            out.append((None, Path(item), str(item)))
    return out


def samples_frame(
    source: ArchiveInput,
    *,
    values: str = "auto",
    with_series: bool = False,
    errors: str = "warn",
    **filters: Any,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Every sample of every matching archive, one row per sample (tidy); see the package README.

    ``source`` is an S3Source (the filters apply to the archive keys) or a list
    of local ``.flent.gz`` paths. ``run`` is the archive's S3 key (the
    ``archive_key`` of ``summary_frame``), or the path of a local file.
    ``values`` picks raw samples, flent's interpolated grid or both (see
    ``archive_samples``). With ``with_series=True`` the result is
    ``(samples, series)``, the second frame holding each series' unit, runner,
    tool mean and loss ratio (for ``series_stats``). ``errors``: ``"warn"``
    skips an unreadable archive with a warning, ``"raise"`` raises ArchiveError.
    """
    if errors not in ("warn", "raise"):
        raise ValueError(f"errors={errors!r}: expected warn or raise")
    flt = Filter.of(**filters)
    if filters and any(v is not None for v in filters.values()) and not isinstance(source, S3Source):
        raise ValueError("filters apply to an S3Source; for local archives, filter the frame instead")
    samples: list[pd.DataFrame] = []
    series: list[pd.DataFrame] = []
    for parsed, path, run in _archive_inputs(source, flt):
        parsed = parsed or parse_archive_key(run)
        try:
            archive = read_archive(path, name=run)
        except ArchiveError as err:
            if errors == "raise":
                raise
            warnings.warn(f"skipped: {err}", stacklevel=2)
            continue
        frame = archive_samples(
            archive,
            values=values,
            run=run,
            schedule=parsed.schedule if parsed else None,
            src=parsed.src if parsed else None,
            dst=parsed.dst if parsed else None,
            test=parsed.test if parsed else None,
        )
        samples.append(frame)
        if with_series:
            series.append(archive_series(archive, run=run))
    out = pd.concat(samples, ignore_index=True) if samples else _typed(pd.DataFrame(), SAMPLE_COLUMNS)
    out = _typed(out, SAMPLE_COLUMNS)
    if with_series:
        meta = pd.concat(series, ignore_index=True) if series else _typed(pd.DataFrame(), SERIES_COLUMNS)
        return out, _typed(meta, SERIES_COLUMNS)
    return out
