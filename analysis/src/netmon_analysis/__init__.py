"""netmon_analysis: k8s-netmon's results from S3 into pandas DataFrames and matplotlib figures.

::

    from netmon_analysis import S3Source, summary_frame, samples_frame, latency_matrix
    s3 = S3Source.from_demo("/tmp/demo")          # or S3Source(bucket=..., endpoint=...)
    df = summary_frame(s3, schedule="demo")       # one row per test
    latency_matrix(df).savefig("latency.svg")
"""

from .filters import Filter
from .flent import Archive, ArchiveError, archive_samples, archive_series, read_archive, series_stats
from .frames import primary_latency_series, samples_frame, series_summary_frame, summary_frame
from .headline import headline, headline_probe, probe_name
from .keys import decode_segment, encode_segment, parse_archive_key, parse_result_key
from .plots import latency_cdf, latency_matrix, pair_timeseries, save, throughput_matrix
from .s3 import NetmonDataError, PullReport, S3AccessError, S3Source, UnknownScheduleError

__version__ = "0.1.0"

__all__ = [
    "Archive",
    "ArchiveError",
    "Filter",
    "NetmonDataError",
    "PullReport",
    "S3AccessError",
    "S3Source",
    "UnknownScheduleError",
    "archive_samples",
    "archive_series",
    "decode_segment",
    "encode_segment",
    "headline",
    "headline_probe",
    "latency_cdf",
    "latency_matrix",
    "pair_timeseries",
    "parse_archive_key",
    "parse_result_key",
    "primary_latency_series",
    "probe_name",
    "read_archive",
    "samples_frame",
    "save",
    "series_stats",
    "series_summary_frame",
    "summary_frame",
    "throughput_matrix",
]
