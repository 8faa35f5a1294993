"""Flent archives (``.flent.gz``: gzip'd JSON) into tidy pandas frames.

The figures follow the same rules as the TypeScript parser
(layers/flent/summary.ts), which follow flent's own ``-f stats``:

* values are converted to base units: seconds and bit/s;
* a series' samples are its raw samples (``raw_values``: every value that is a
  finite number and not marked lost) when it has any, else its values on
  flent's interpolated grid (``results`` at ``x_values``; flent's computed
  series such as ``TCP upload sum`` and ``Ping (ms) avg`` have only these);
* count, min, median, p99 and max come from those samples (percentiles with
  numpy's default linear interpolation);
* the mean is the tool's own mean (``SERIES_META[...].MEAN_VALUE``: netperf's
  bytes over time, fping's and irtt's mean) when the archive records one that
  is a finite non-zero number, else the mean of the samples;
* the loss ratio of a latency series is the tool's ``PACKET_LOSS_RATE`` when
  recorded, else, for probe series (raw samples numbered with ``seq``),
  ``1 - received / round(TOTAL_LENGTH / STEP_SIZE)``, clamped to 0..1.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .s3 import NetmonDataError

#: 64 MiB compressed, 512 MiB decompressed (the TypeScript reader's limits).
MAX_COMPRESSED_BYTES = 64 << 20
MAX_DECOMPRESSED_BYTES = 512 << 20

#: Flent's unit -> (base unit, kind, factor to the base unit).
UNITS: dict[str, tuple[str, str, float]] = {
    "ms": ("s", "latency", 1e-3),
    "s": ("s", "latency", 1.0),
    "bits/s": ("bit/s", "throughput", 1.0),
    "Kbits/s": ("bit/s", "throughput", 1e3),
    "Mbits/s": ("bit/s", "throughput", 1e6),
    "Gbits/s": ("bit/s", "throughput", 1e9),
}

SAMPLE_COLUMNS = {
    "run": "string",
    "schedule": "string",
    "src": "string",
    "dst": "string",
    "test": "string",
    "start_time": "datetime64[ns, UTC]",
    "series": "string",
    "kind": "string",
    "unit": "string",
    "source": "string",
    "seq": "float64",
    "time_s": "float64",
    "time": "datetime64[ns, UTC]",
    "value": "float64",
    "lost": "bool",
}

SERIES_COLUMNS = {
    "run": "string",
    "series": "string",
    "kind": "string",
    "unit": "string",
    "flent_unit": "string",
    "runner": "string",
    "source": "string",
    "tool_mean": "float64",
    "loss_ratio": "float64",
}

STATS_COLUMNS = {
    "run": "string",
    "series": "string",
    "kind": "string",
    "unit": "string",
    "count": "int64",
    "min": "float64",
    "mean": "float64",
    "median": "float64",
    "p99": "float64",
    "max": "float64",
    "loss_ratio": "float64",
    "mean_source": "string",
}


class ArchiveError(NetmonDataError):
    """An archive that cannot be read: a one-line reason."""


@dataclass
class Archive:
    """A parsed, checked Flent archive."""

    metadata: dict[str, Any]
    x_values: list[Any]
    results: dict[str, list[Any]]
    raw_values: dict[str, list[Any]]
    source: str = "archive"

    @property
    def series_meta(self) -> dict[str, dict[str, Any]]:
        return self.metadata.get("SERIES_META") or {}

    @property
    def start_time(self) -> pd.Timestamp:
        """T0 (or TIME when T0 is missing): flent writes naive UTC times."""
        text = self.metadata.get("T0") or self.metadata["TIME"]
        stamp = pd.Timestamp(text)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        return stamp.as_unit("ns")

    def series_names(self) -> list[str]:
        """Every series the archive names (results and SERIES_META), sorted."""
        return sorted(set(self.results) | set(self.series_meta))


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(value: Any) -> bool:
    return _number(value) and math.isfinite(value)


def read_archive(
    source: str | os.PathLike[str] | bytes,
    *,
    name: str | None = None,
    max_compressed_bytes: int = MAX_COMPRESSED_BYTES,
    max_decompressed_bytes: int = MAX_DECOMPRESSED_BYTES,
) -> Archive:
    """Reads a ``.flent.gz`` file (a path or its bytes); ArchiveError for anything that is not one.

    Archives are untrusted input: sizes are capped before and after
    decompression and the shape is checked before use.
    """
    label = name or (str(source) if not isinstance(source, bytes) else "archive")
    if isinstance(source, bytes):
        data = source
    else:
        try:
            size = os.stat(source).st_size
            if size > max_compressed_bytes:
                raise ArchiveError(
                    f"{label}: {size} bytes is over the limit of {max_compressed_bytes} compressed bytes"
                )
            data = Path(source).read_bytes()
        except OSError as err:
            raise ArchiveError(f"{label}: cannot open ({err.strerror or err})") from err
    if len(data) > max_compressed_bytes:
        raise ArchiveError(f"{label}: {len(data)} bytes is over the limit of {max_compressed_bytes} compressed bytes")
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            text = stream.read(max_decompressed_bytes + 1)
    except (OSError, EOFError, zlib.error) as err:
        why = "truncated gzip data" if isinstance(err, EOFError) else "not valid gzip data"
        raise ArchiveError(f"{label}: {why} ({err})") from err
    if len(text) > max_decompressed_bytes:
        raise ArchiveError(
            f"{label}: decompresses to more than {max_decompressed_bytes} bytes; refusing it "
            "(raise the limit if the archive is genuine)"
        )
    try:
        document = json.loads(text)
    except (ValueError, UnicodeDecodeError) as err:
        raise ArchiveError(f"{label}: not valid JSON inside the gzip ({err})") from err
    return _check(document, label)


def _check(document: Any, label: str) -> Archive:
    def bad(path: str, what: str) -> ArchiveError:
        return ArchiveError(f"{label}: not a Flent archive: {path}: {what}")

    if not isinstance(document, dict):
        raise bad("(root)", "not an object")
    md = document.get("metadata")
    if not isinstance(md, dict):
        raise bad("metadata", "missing or not an object")
    for key, check, what in (
        ("NAME", lambda v: isinstance(v, str), "a string"),
        ("TIME", lambda v: isinstance(v, str), "a string"),
        ("LENGTH", _number, "a number"),
        ("TOTAL_LENGTH", _number, "a number"),
        ("STEP_SIZE", lambda v: _finite(v) and v > 0, "a positive number"),
        ("FLENT_VERSION", lambda v: isinstance(v, str), "a string"),
    ):
        if not check(md.get(key)):
            raise bad(f"metadata.{key}", f"expected {what}")
    if md.get("SERIES_META") is None:
        md["SERIES_META"] = {}
    if not isinstance(md["SERIES_META"], dict) or not all(isinstance(v, dict) for v in md["SERIES_META"].values()):
        raise bad("metadata.SERIES_META", "expected an object of objects")
    for key in ("T0",):
        if md.get(key) is not None and not isinstance(md[key], str):
            raise bad(f"metadata.{key}", "expected a string")
    x_values = document.get("x_values")
    if not isinstance(x_values, list) or not all(_number(x) for x in x_values):
        raise bad("x_values", "expected an array of numbers")
    results = document.get("results")
    if not isinstance(results, dict):
        raise bad("results", "missing or not an object")
    for series, values in results.items():
        if not isinstance(values, list) or not all(v is None or _number(v) for v in values):
            raise bad(f"results.{series}", "expected an array of numbers and nulls")
    raw = document.get("raw_values")
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise bad("raw_values", "not an object")
    for series, points in raw.items():
        if not isinstance(points, list) or not all(isinstance(p, dict) for p in points):
            raise bad(f"raw_values.{series}", "expected an array of objects")
    archive = Archive(md, x_values, results, raw, label)
    try:
        archive.start_time  # noqa: B018 (checks T0/TIME)
    except (ValueError, TypeError) as err:
        raise bad("metadata.T0", f"not a time ({err})") from err
    return archive


def unit_of(name: str, declared: Any) -> str | None:
    """Flent's unit of a series; older archives lack UNITS for computed series, whose name carries it."""
    if isinstance(declared, str) and declared:
        return declared
    if name.startswith("Ping (ms)"):
        return "ms"
    if name.startswith("TCP "):
        return "Mbits/s"
    return None


def _valid_raw(points: list[Any] | None) -> list[float]:
    if not points:
        return []
    return [p["val"] for p in points if _finite(p.get("val")) and p.get("lost") is not True]


def _loss_ratio(archive: Archive, name: str, received: int) -> float:
    declared = archive.series_meta.get(name, {}).get("PACKET_LOSS_RATE")
    if _finite(declared):
        return min(1.0, max(0.0, float(declared)))
    points = archive.raw_values.get(name) or []
    if not any(_number(p.get("seq")) for p in points):
        return math.nan
    md = archive.metadata
    expected = math.floor(md["TOTAL_LENGTH"] / md["STEP_SIZE"] + 0.5)  # JavaScript's Math.round
    if expected <= 0:
        return math.nan
    return min(1.0, max(0.0, 1 - received / expected))


def archive_series(archive: Archive, run: str | None = None) -> pd.DataFrame:
    """One row per series of the archive: unit, runner, where its samples come from, tool mean, loss ratio.

    ``tool_mean`` is in base units (NaN when the tool recorded none, or 0);
    ``source`` is ``raw`` or ``grid`` (see ``archive_samples(values="auto")``).
    """
    run = run if run is not None else archive.source
    rows = []
    for name in archive.series_names():
        meta = archive.series_meta.get(name, {})
        flent_unit = unit_of(name, meta.get("UNITS"))
        base, kind, factor = UNITS.get(flent_unit or "", (flent_unit, None, 1.0))
        received = len(_valid_raw(archive.raw_values.get(name)))
        tool_mean = meta.get("MEAN_VALUE")
        rows.append(
            {
                "run": run,
                "series": name,
                "kind": kind,
                "unit": base,
                "flent_unit": flent_unit,
                "runner": meta.get("RUNNER") if isinstance(meta.get("RUNNER"), str) else None,
                "source": "raw" if received > 0 else "grid",
                "tool_mean": tool_mean * factor if _finite(tool_mean) and tool_mean != 0 else math.nan,
                "loss_ratio": _loss_ratio(archive, name, received) if kind == "latency" else math.nan,
            }
        )
    return _typed(pd.DataFrame(rows, columns=list(SERIES_COLUMNS)), SERIES_COLUMNS)


def archive_samples(
    archive: Archive,
    *,
    values: str = "auto",
    run: str | None = None,
    schedule: str | None = None,
    src: str | None = None,
    dst: str | None = None,
    test: str | None = None,
) -> pd.DataFrame:
    """The samples of one archive, one row per sample (tidy).

    ``values``: ``"auto"`` (each series' raw samples when it has any, else its
    grid values: the samples the statistics use), ``"raw"`` (raw samples only),
    ``"grid"`` (flent's interpolated ``results`` on ``x_values`` only) or
    ``"all"`` (both; the ``source`` column tells them apart).

    ``time_s`` is the offset from the archive's T0 (raw: ``t - T0``; grid: the
    x value); ``time`` the absolute UTC time. ``value`` is in base units (``unit``
    is ``s`` or ``bit/s``; a series of a unit k8s-netmon does not know keeps
    flent's value and unit). Null and lost samples are NaN (``lost`` marks
    probes the tool reported lost). ``seq`` is the probe's sequence number
    (NaN where the tool gives none).
    """
    if values not in ("auto", "raw", "grid", "all"):
        raise ValueError(f"values={values!r}: expected auto, raw, grid or all")
    md = archive.metadata
    start = archive.start_time
    t0 = start.value / 1e9
    run = run if run is not None else archive.source
    test = test if test is not None else md.get("NAME")
    parts: list[pd.DataFrame] = []
    names = sorted(set(archive.results) | set(archive.raw_values))
    x_values = np.asarray(archive.x_values, dtype="float64")
    for name in names:
        meta = archive.series_meta.get(name, {})
        flent_unit = unit_of(name, meta.get("UNITS"))
        base, kind, factor = UNITS.get(flent_unit or "", (flent_unit, None, 1.0))
        points = archive.raw_values.get(name) or []
        has_raw = len(_valid_raw(points)) > 0
        take_raw = values in ("raw", "all") or (values == "auto" and has_raw)
        take_grid = values in ("grid", "all") or (values == "auto" and not has_raw)
        if take_raw and points:
            val = np.array(
                [p["val"] if _finite(p.get("val")) and p.get("lost") is not True else np.nan for p in points],
                dtype="float64",
            )
            lost = np.array([p.get("lost") is True for p in points], dtype=bool)
            t = np.array([p["t"] if _finite(p.get("t")) else np.nan for p in points], dtype="float64")
            seq = np.array([p["seq"] if _finite(p.get("seq")) else np.nan for p in points], dtype="float64")
            parts.append(_part(name, kind, base, "raw", seq, t - t0, val * factor, lost))
        if take_grid and name in archive.results:
            raw_values = archive.results[name]
            val = np.array([np.nan if v is None else v for v in raw_values], dtype="float64")
            val[~np.isfinite(val)] = np.nan
            offsets = np.full(len(val), np.nan)
            n = min(len(val), len(x_values))
            offsets[:n] = x_values[:n]
            parts.append(
                _part(
                    name, kind, base, "grid", np.full(len(val), np.nan), offsets, val * factor, np.zeros(len(val), bool)
                )
            )
    if parts:
        frame = pd.concat(parts, ignore_index=True)
    else:
        frame = pd.DataFrame({c: [] for c in ("series", "kind", "unit", "source", "seq", "time_s", "value", "lost")})
    frame["run"] = run
    frame["schedule"] = schedule
    frame["src"] = src
    frame["dst"] = dst
    frame["test"] = test
    frame["start_time"] = start
    offsets = frame["time_s"].to_numpy(dtype="float64")
    stamps = np.full(len(offsets), np.datetime64("NaT"), dtype="datetime64[ns]")
    known = np.isfinite(offsets)
    stamps[known] = np.datetime64(start.value, "ns") + np.round(offsets[known] * 1e9).astype("int64").astype(
        "timedelta64[ns]"
    )
    frame["time"] = pd.DatetimeIndex(stamps).tz_localize("UTC")
    return _typed(frame[list(SAMPLE_COLUMNS)], SAMPLE_COLUMNS)


def _part(name: str, kind, unit, source: str, seq, offsets, values, lost) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "series": name,
            "kind": kind,
            "unit": unit,
            "source": source,
            "seq": seq,
            "time_s": offsets,
            "value": values,
            "lost": lost,
        }
    )


def _typed(frame: pd.DataFrame, columns: Mapping[str, str]) -> pd.DataFrame:
    for column, dtype in columns.items():
        if column not in frame:
            frame[column] = pd.Series(dtype=dtype, index=frame.index)
        elif dtype == "string":
            frame[column] = frame[column].astype("object").where(frame[column].notna(), None).astype("string")
        elif dtype.startswith("datetime64"):
            frame[column] = pd.to_datetime(frame[column], utc=True).astype(dtype)
        else:
            frame[column] = frame[column].astype(dtype)
    return frame[list(columns)]


def _describe(values: np.ndarray) -> dict[str, float]:
    if len(values) == 0:
        return {"count": 0, "min": math.nan, "mean": math.nan, "median": math.nan, "p99": math.nan, "max": math.nan}
    ordered = np.sort(values)
    return {
        "count": int(len(ordered)),
        "min": float(ordered[0]),
        "mean": float(np.mean(ordered)),
        "median": float(np.percentile(ordered, 50)),
        "p99": float(np.percentile(ordered, 99)),
        "max": float(ordered[-1]),
    }


def series_stats(samples: pd.DataFrame, series: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per run and series: count, min, mean, median, p99 and max of the samples, in base units.

    ``samples`` is a samples frame (any ``values=`` choice: where a series has
    both raw and grid rows, the raw ones count when any is valid, as flent
    does). With ``series`` (the frame of ``archive_series`` or
    ``samples_frame(..., with_series=True)``) the mean becomes the tool's own
    mean where it recorded one (``mean_source`` says which), the loss ratio is
    added, and series without samples appear with count 0.
    """
    rows = []
    for (run, name), group in samples.groupby(["run", "series"], sort=True, observed=True, dropna=False):
        raw = group[group["source"] == "raw"]
        valid_raw = raw["value"].dropna().to_numpy()
        chosen = valid_raw if len(valid_raw) > 0 else group.loc[group["source"] == "grid", "value"].dropna().to_numpy()
        row = {"run": run, "series": name, "kind": group["kind"].iloc[0], "unit": group["unit"].iloc[0]}
        row.update(_describe(chosen))
        row["mean_source"] = "samples" if row["count"] > 0 else None
        rows.append(row)
    stats = pd.DataFrame(rows, columns=[c for c in STATS_COLUMNS if c not in ("loss_ratio",)])
    if series is not None and len(series) > 0:
        meta = series[["run", "series", "kind", "unit", "tool_mean", "loss_ratio"]]
        stats = stats.merge(meta, on=["run", "series"], how="outer", suffixes=("", "_meta"))
        for column in ("kind", "unit"):
            stats[column] = stats[column].where(stats[column].notna(), stats[f"{column}_meta"])
        stats["count"] = stats["count"].fillna(0)
        use_tool = stats["tool_mean"].notna() & (stats["count"] > 0)
        stats.loc[use_tool, "mean"] = stats.loc[use_tool, "tool_mean"]
        stats.loc[use_tool, "mean_source"] = "tool"
        stats = stats.drop(columns=["kind_meta", "unit_meta", "tool_mean"])
    else:
        stats["loss_ratio"] = math.nan
    stats = stats.sort_values(["run", "series"], ignore_index=True)
    return _typed(stats, STATS_COLUMNS)
