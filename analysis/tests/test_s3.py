"""Listing with filters and the download cache, against the demo's s3rver and its real archives."""

from __future__ import annotations

import json
from collections import Counter

import boto3
import pytest
from botocore.config import Config

from conftest import CUT, NODES, SCHEDULE, Demo
from netmon_analysis import S3Source, UnknownScheduleError, encode_segment, samples_frame, summary_frame

ALL_PAIRS = {(s, d) for s in NODES for d in NODES if s != d}


def _get_counter(source: S3Source) -> Counter:
    """Counts requests with botocore's own event hooks, independently of S3Source.requests."""
    seen: Counter = Counter()
    source.client.meta.events.register(
        "before-send.s3.*", lambda request, **_: seen.update([request.method]) if request is not None else None
    )
    return seen


def test_every_ordered_pair_has_a_result_and_each_success_an_archive(source: S3Source) -> None:
    records = source.records(schedule=SCHEDULE)
    assert {(r["src"], r["dst"]) for r in records} == ALL_PAIRS
    archives = source.list_archives(schedule=SCHEDULE)
    assert {(a.src, a.dst) for a, _ in archives} == ALL_PAIRS - {CUT}
    assert {a.test for a, _ in archives} == {"rrul"}
    by_key = {r["archiveKey"] for r in records if r["archiveKey"]}
    assert by_key == {info.key for _, info in archives}
    assert source.schedules() == [SCHEDULE]


def test_filters_on_src_dst_and_test(source: S3Source) -> None:
    from_2 = source.records(schedule=SCHEDULE, src="node-2")
    assert {(r["src"], r["dst"]) for r in from_2} == {("node-2", "node-1"), ("node-2", "node-3")}
    to_1 = source.list_archives(schedule=SCHEDULE, dst=["node-1"])
    assert {(a.src, a.dst) for a, _ in to_1} == {("node-2", "node-1"), ("node-3", "node-1")}
    one = source.records(src="node-3", dst="node-2")
    assert len(one) == 1 and one[0]["test"] == "rrul"
    assert source.records(schedule=SCHEDULE, test="ping") == []
    assert source.list_archives(schedule=SCHEDULE, test="ping") == []
    assert len(source.records(schedule=SCHEDULE, test=["ping", "rrul"])) == len(ALL_PAIRS)


def test_time_range_selects_on_the_test_start(source: S3Source) -> None:
    records = source.records(schedule=SCHEDULE)
    starts = sorted(r["startTime"] for r in records)
    middle = starts[2]
    later = source.records(schedule=SCHEDULE, since=middle)
    earlier = source.records(schedule=SCHEDULE, until=middle)
    assert sorted(r["startTime"] for r in later) == starts[2:]  # since is inclusive
    assert sorted(r["startTime"] for r in earlier) == starts[:2]  # until is exclusive
    archive_later = source.list_archives(schedule=SCHEDULE, since=middle)
    assert all(a.time.isoformat() >= middle.replace("Z", "+00:00") for a, _ in archive_later)
    assert source.records(schedule=SCHEDULE, since="2100-01-01") == []
    assert source.list_archives(schedule=SCHEDULE, until="2000-01-01") == []


def test_unknown_schedule_names_the_known_ones(source: S3Source) -> None:
    with pytest.raises(UnknownScheduleError) as err:
        source.records(schedule="nightly")
    assert err.value.known == [SCHEDULE]
    assert "'nightly'" in str(err.value) and "known schedules: demo" in str(err.value)


def test_second_pull_downloads_nothing(demo: Demo, tmp_path) -> None:
    first = demo.source(tmp_path / "cache")
    first_requests = _get_counter(first)
    report = first.pull(schedule=SCHEDULE)
    objects = len(ALL_PAIRS) + len(ALL_PAIRS) - 1  # every result record, every archive but the cut pair's
    assert (report.results, report.archives) == (len(ALL_PAIRS), len(ALL_PAIRS) - 1)
    assert report.downloaded == objects and report.cached == 0 and report.bytes_downloaded > 0
    assert first_requests["GET"] >= objects  # listings are GETs too
    assert first.requests["GetObject"] == objects

    # a time range reads round manifests too (to skip rounds that closed before it)
    middle = sorted(r["startTime"] for r in first.records(schedule=SCHEDULE))[2]
    first.pull(schedule=SCHEDULE, since=middle)

    again = demo.source(tmp_path / "cache")  # a new client: nothing shared but the cache folder
    again_requests = _get_counter(again)
    report = again.pull(schedule=SCHEDULE)
    assert report.downloaded == 0 and report.cached == objects
    summary_frame(again, schedule=SCHEDULE)
    samples_frame(again, schedule=SCHEDULE)
    assert len(summary_frame(again, schedule=SCHEDULE, since=middle)) == len(ALL_PAIRS) - 2
    assert again.requests["GetObject"] == 0
    assert set(again.requests) == {"ListObjects"}  # only listings: the ETags say the cache is current
    assert again_requests["GET"] == again.requests["ListObjects"]


def _writer(demo: Demo):
    try:  # botocore >= 1.36 sends streamed checksums by default, which s3rver would store as data
        config = Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required")
    except TypeError:  # older botocore: no such option, and no such default
        config = Config(s3={"addressing_style": "path"})
    return boto3.client(
        "s3",
        endpoint_url=demo.endpoint,
        region_name="us-east-1",
        aws_access_key_id=demo.access_key,
        aws_secret_access_key=demo.secret_key,
        config=config,
    )


def test_prefix_and_encoded_names_round_trip(demo: Demo, source: S3Source, tmp_path) -> None:
    """A copy of a real record and archive under a prefix, with names that need %XX in keys."""
    schedule, src, dst = "night run", "node:α/1", "10.0.0.7"
    record = source.records(schedule=SCHEDULE, src="node-2", dst="node-3")[0]
    parsed, info = next(
        (a, i) for a, i in source.list_archives(schedule=SCHEDULE) if (a.src, a.dst) == ("node-2", "node-3")
    )
    archive_bytes = source.fetch(info)[0].read_bytes()
    stamp = info.key.rsplit("-", 1)[1]
    day = parsed.time.strftime("%Y/%m/%d")
    enc = encode_segment
    archive_key = f"enc-test/archives/{enc(schedule)}/{day}/{enc(src)}/{enc(dst)}/rrul-{stamp}"
    result_key = f"enc-test/results/{enc(schedule)}/{enc(record['round'])}/{enc(src)}/{enc(dst)}.json"
    round_key = f"enc-test/rounds/{enc(schedule)}/{enc(record['round'])}.json"
    copy = {k: v for k, v in record.items() if not k.startswith("_")}
    copy.update(schedule=schedule, src=src, dst=dst, archiveKey=archive_key[len("enc-test/") :])
    writer = _writer(demo)
    writer.put_object(Bucket=demo.bucket, Key=archive_key, Body=archive_bytes)
    writer.put_object(Bucket=demo.bucket, Key=result_key, Body=json.dumps(copy).encode())
    writer.put_object(Bucket=demo.bucket, Key=round_key, Body=b'{"closedAt": null}')
    try:
        prefixed = demo.source(tmp_path / "cache", prefix="enc-test")
        assert prefixed.schedules() == [schedule]
        frame = summary_frame(prefixed, schedule=schedule)
        assert frame[["schedule", "src", "dst"]].values.tolist() == [[schedule, src, dst]]
        assert frame["latency_median_s"].iloc[0] > 0
        samples = samples_frame(prefixed, schedule=schedule, src=src)
        assert set(samples["src"]) == {src} and set(samples["dst"]) == {dst} and len(samples) > 0
        # the unprefixed source does not see the copy
        assert source.schedules() == [SCHEDULE]
        # a changed object (new ETag) is downloaded again, the unchanged ones are not
        before = prefixed.requests["GetObject"]
        writer.put_object(
            Bucket=demo.bucket, Key=result_key, Body=json.dumps({**copy, "test": "rrul"}, indent=1).encode()
        )
        prefixed.pull(schedule=schedule)
        assert prefixed.requests["GetObject"] == before + 1
    finally:
        writer.delete_objects(
            Bucket=demo.bucket, Delete={"Objects": [{"Key": k} for k in (archive_key, result_key, round_key)]}
        )
