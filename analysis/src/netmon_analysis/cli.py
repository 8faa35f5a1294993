"""netmon-analysis: pull k8s-netmon results from S3, print tables, draw plots.

Exit codes: 0 done; 1 nothing matched, or S3 or an archive failed; 2 bad
arguments (an unknown schedule, a time that is not one, a missing option).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from dataclasses import replace
from typing import Any, Sequence

import pandas as pd

from . import __version__
from .filters import Filter
from .flent import series_stats
from .frames import samples_frame, series_summary_frame, summary_frame
from .plots import latency_cdf, latency_matrix, pair_timeseries, save, throughput_matrix
from .s3 import NetmonDataError, S3Source, UnknownScheduleError

PLOTS = ("latency-matrix", "throughput-matrix", "timeseries", "cdf")
TABLES = ("summary", "series", "samples", "stats")
STATS = ("min", "mean", "median", "p99", "max")


class UsageError(Exception):
    """Bad arguments: exit 2."""


class NoData(Exception):
    """Nothing matched: exit 1."""


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    s3 = common.add_argument_group("S3 (default: NETMON_S3_* and the usual AWS environment)")
    s3.add_argument("--endpoint", help="S3 endpoint URL (NETMON_S3_ENDPOINT; empty for AWS)")
    s3.add_argument("--bucket", help="bucket (NETMON_S3_BUCKET)")
    s3.add_argument("--prefix", default="", help="key prefix in front of archives/, results/, rounds/")
    s3.add_argument("--region", help="region (NETMON_S3_REGION, AWS_REGION; default us-east-1)")
    s3.add_argument("--access-key", help="access key id (default: AWS_ACCESS_KEY_ID or boto3's chain)")
    s3.add_argument("--secret-key", help="secret access key (default: AWS_SECRET_ACCESS_KEY or boto3's chain)")
    s3.add_argument(
        "--demo",
        metavar="DIR",
        help="use the S3 of a running `npm run demo -- --keep --out DIR` (reads DIR/summary.json)",
    )
    s3.add_argument("--cache-dir", help="download cache (NETMON_ANALYSIS_CACHE; default ~/.cache/netmon-analysis)")
    flt = common.add_argument_group("filters (each name option can be repeated)")
    flt.add_argument("--schedule", action="append", help="schedule name")
    flt.add_argument("--since", help="tests that started at or after this time (ISO 8601; naive = UTC)")
    flt.add_argument("--until", help="tests that started before this time (ISO 8601; naive = UTC)")
    flt.add_argument("--src", action="append", help="source node (the test's client)")
    flt.add_argument("--dst", action="append", help="destination node (the test's server)")
    flt.add_argument("--test", action="append", help="flent test (ping, tcp_upload, tcp_download, rrul)")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(
        prog="netmon-analysis",
        description="k8s-netmon results from S3: pull them into a local cache, print tables, draw plots.",
        epilog="Example: netmon-analysis table --demo /tmp/demo --schedule demo --csv -o results.csv",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser(
        "schedules", parents=[common], help="list the schedules in the bucket", description="List the schedules."
    )

    pull = commands.add_parser(
        "pull",
        parents=[common],
        help="download matching result records and archives into the cache",
        description="Download matching result records and archives into the cache (by key and ETag) and print counts.",
    )
    pull.add_argument("--no-archives", action="store_true", help="result records only")

    table = commands.add_parser(
        "table",
        parents=[common],
        help="print a table of the matching tests (or samples)",
        description="Print a table: summary (one row per test), series (one row per test and series), "
        "samples (one row per sample, from the archives) or stats (per archive and series, from the samples).",
    )
    table.add_argument("--kind", choices=TABLES, default="summary", help="which table (default summary)")
    table.add_argument("--csv", action="store_true", help="CSV with every column, in base units")
    table.add_argument("-o", "--output", help="write to this file instead of stdout")

    plot = commands.add_parser(
        "plot",
        parents=[common],
        help="draw a figure to an SVG or PNG file",
        description="Draw a figure: latency-matrix and throughput-matrix (src x dst, from the result records), "
        "timeseries of one pair and cdf of latency per pair (from the archives).",
    )
    plot.add_argument("kind", choices=PLOTS, help="what to draw")
    plot.add_argument("-o", "--output", required=True, help="image file: .svg, .png or .pdf")
    plot.add_argument("--stat", choices=STATS, help="matrix figure (latency default median, throughput mean)")
    plot.add_argument(
        "--direction",
        choices=("upload", "download"),
        default="upload",
        help="throughput-matrix: upload (src->dst) or download (dst->src)",
    )
    plot.add_argument(
        "--agg",
        choices=("latest", "mean", "median", "min", "max"),
        default="latest",
        help="matrix: several tests of a pair",
    )
    plot.add_argument("--series", action="append", help="timeseries/cdf: flent series name (repeatable for timeseries)")
    plot.add_argument("--run", help="timeseries: archive key (default: the pair's latest; 'all' for every run)")
    plot.add_argument("--log", action="store_true", help="cdf: logarithmic time axis")
    return parser


def _source(args: argparse.Namespace) -> S3Source:
    options: dict[str, Any] = {"prefix": args.prefix, "cache_dir": args.cache_dir}
    if args.region:
        options["region"] = args.region
    try:
        if args.demo:
            source = S3Source.from_demo(args.demo, **options)
            if args.endpoint or args.bucket:
                raise UsageError("give either --demo or --endpoint/--bucket, not both")
            return source
        return S3Source(
            bucket=args.bucket,
            endpoint=args.endpoint,
            access_key=args.access_key,
            secret_key=args.secret_key,
            **options,
        )
    except ValueError as err:
        raise UsageError(str(err)) from err


def _filter(args: argparse.Namespace) -> Filter:
    try:
        return Filter.of(
            schedule=args.schedule, since=args.since, until=args.until, src=args.src, dst=args.dst, test=args.test
        )
    except ValueError as err:
        raise UsageError(str(err)) from err


def _no_data(source: S3Source, flt: Filter, what: str) -> NoData:
    """Nothing matched: say what was asked, and what the bucket holds when a time range was the cause."""
    message = f"no {what} match {flt.describe()} in s3://{source.bucket}/{source.prefix}"
    if flt.since is not None or flt.until is not None:
        wider = source.list_archives(replace(flt, since=None, until=None))
        if wider:
            first, last = wider[0][0].time, wider[-1][0].time
            message += (
                f": the time range is empty; without it there are {len(wider)} archives "
                f"from {first.isoformat()} to {last.isoformat()}"
            )
        else:
            message += ": nothing matches even without the time range"
    return NoData(message)


def _write_table(frame: pd.DataFrame, args: argparse.Namespace) -> None:
    if args.csv:
        text = frame.to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")
    else:
        text = _human(frame, args.kind) + "\n"
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        print(f"wrote {len(frame)} rows to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)


def _human(frame: pd.DataFrame, kind: str) -> str:
    if kind != "summary":
        with pd.option_context("display.max_rows", 200, "display.width", 200, "display.max_columns", 30):
            return frame.to_string(index=False)
    view = pd.DataFrame(
        {
            "time (UTC)": frame["time"].dt.strftime("%Y-%m-%d %H:%M:%S"),
            "schedule": frame["schedule"],
            "src": frame["src"],
            "dst": frame["dst"],
            "test": frame["test"],
            "conn": frame["connectivity"],
            "reason": frame["reason"].fillna(""),
            "latency median (ms)": (frame["latency_median_s"] * 1e3).round(3),
            "loss": frame["loss_ratio"].round(3),
            "upload mean (Mbit/s)": (frame["throughput_upload_mean_bps"] / 1e6).round(2),
            "download mean (Mbit/s)": (frame["throughput_download_mean_bps"] / 1e6).round(2),
        }
    )
    return view.to_string(index=False, na_rep="-")


def run(args: argparse.Namespace) -> int:
    source = _source(args)
    flt = _filter(args)
    if args.command == "schedules":
        for name in source.schedules():
            print(name)
        return 0
    if args.command == "pull":
        report = source.pull(flt, archives=not args.no_archives)
        print(f"pulled from s3://{source.bucket}/{source.prefix} ({flt.describe()}) into {source.cache_dir}")
        print(report)
        for failure in report.failed:
            print(f"failed: {failure}", file=sys.stderr)
        if report.results == 0 and report.archives == 0:
            raise _no_data(source, flt, "results or archives")
        return 1 if report.failed else 0
    if args.command == "table":
        if args.kind in ("summary", "series"):
            maker = summary_frame if args.kind == "summary" else series_summary_frame
            frame = maker(source.records(flt))
            if frame.empty:
                raise _no_data(source, flt, "result records")
        else:
            samples, series = samples_frame(source, with_series=True, **_filter_kwargs(flt))
            if samples.empty:
                raise _no_data(source, flt, "archives")
            frame = samples if args.kind == "samples" else series_stats(samples, series)
        _write_table(frame, args)
        return 0
    if args.command == "plot":
        return _plot(source, flt, args)
    raise UsageError(f"unknown command {args.command}")


def _filter_kwargs(flt: Filter) -> dict[str, Any]:
    return {
        "schedule": flt.schedule,
        "since": flt.since,
        "until": flt.until,
        "src": flt.src,
        "dst": flt.dst,
        "test": flt.test,
    }


def _plot(source: S3Source, flt: Filter, args: argparse.Namespace) -> int:
    if args.kind in ("latency-matrix", "throughput-matrix"):
        frame = summary_frame(source.records(flt))
        if frame.empty:
            raise _no_data(source, flt, "result records")
        if args.kind == "latency-matrix":
            fig = latency_matrix(frame, stat=args.stat or "median", agg=args.agg)
        else:
            fig = throughput_matrix(frame, direction=args.direction, stat=args.stat or "mean", agg=args.agg)
    else:
        if args.kind == "timeseries" and (not args.src or not args.dst or len(args.src) != 1 or len(args.dst) != 1):
            raise UsageError("plot timeseries needs exactly one --src and one --dst")
        samples = samples_frame(source, **_filter_kwargs(flt))
        if samples.empty:
            raise _no_data(source, flt, "archives")
        try:
            if args.kind == "timeseries":
                fig = pair_timeseries(samples, args.src[0], args.dst[0], args.series, run=args.run)
            else:
                if args.series and len(args.series) > 1:
                    raise UsageError("plot cdf takes one --series")
                fig = latency_cdf(samples, series=args.series[0] if args.series else None, log=args.log)
        except ValueError as err:
            raise UsageError(str(err)) from err
    try:
        path = save(fig, args.output)
    except ValueError as err:
        raise UsageError(str(err)) from err
    print(f"wrote {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            return run(args)
    except UnknownScheduleError as err:
        print(f"netmon-analysis: {err}", file=sys.stderr)
        return 2
    except UsageError as err:
        print(f"netmon-analysis: {err}", file=sys.stderr)
        return 2
    except NoData as err:
        print(f"netmon-analysis: {err}", file=sys.stderr)
        return 1
    except NetmonDataError as err:
        print(f"netmon-analysis: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
