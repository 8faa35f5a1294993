"""Reading k8s-netmon's bucket: listing with filters, and a local cache by key and ETag."""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .filters import Filter
from .keys import (
    ArchiveKey,
    ResultKey,
    decode_segment,
    encode_segment,
    parse_archive_key,
    parse_compact_time,
    parse_result_key,
)

DEFAULT_REGION = "us-east-1"
#: Per-day listing of archives is used for time ranges up to this many days.
_MAX_DAY_LISTINGS = 400


class NetmonDataError(Exception):
    """Something about the bucket or its contents that stops a call (a one-line message)."""


class UnknownScheduleError(NetmonDataError):
    def __init__(self, unknown: list[str], known: list[str]):
        self.unknown = unknown
        self.known = known
        names = ", ".join(repr(s) for s in unknown)
        if known:
            hint = f"known schedules: {', '.join(known)}"
        else:
            hint = "the bucket has no schedules yet (no rounds/, results/ or archives/ keys)"
        plural = "s" if len(unknown) > 1 else ""
        super().__init__(f"unknown schedule{plural} {names}; {hint}")


class S3AccessError(NetmonDataError):
    """The endpoint, bucket or credentials do not work."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    etag: str
    size: int


@dataclass
class PullReport:
    """What a pull found and did."""

    results: int = 0
    archives: int = 0
    downloaded: int = 0
    cached: int = 0
    bytes_downloaded: int = 0
    failed: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"{self.results} result records, {self.archives} archives: "
            f"{self.downloaded} downloaded ({self.bytes_downloaded} bytes), {self.cached} already cached"
            + (f", {len(self.failed)} failed" if self.failed else "")
        )


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def default_cache_dir() -> Path:
    explicit = os.environ.get("NETMON_ANALYSIS_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "netmon-analysis"


def _clean_etag(etag: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]", "", etag) or "noetag"


class S3Source:
    """k8s-netmon's bucket, read through a local cache.

    Settings come from the arguments, else from the environment:
    ``NETMON_S3_ENDPOINT`` (or ``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``),
    ``NETMON_S3_BUCKET``, ``NETMON_S3_REGION`` (or ``AWS_REGION``,
    ``AWS_DEFAULT_REGION``; default us-east-1) and the credentials of boto3's
    usual chain (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, profiles, ...).
    Addressing is path style by default (s3rver, MinIO and Ceph need it).

    Downloads go to ``cache_dir`` (default ``$NETMON_ANALYSIS_CACHE`` or
    ``~/.cache/netmon-analysis``) under the object's key and ETag: an object
    whose listed ETag is already cached is not downloaded again.
    ``requests`` counts the S3 calls made, by operation name.
    """

    def __init__(
        self,
        bucket: str | None = None,
        endpoint: str | None = None,
        prefix: str = "",
        *,
        access_key: str | None = None,
        secret_key: str | None = None,
        session_token: str | None = None,
        region: str | None = None,
        path_style: bool | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        max_workers: int = 8,
    ):
        self.bucket = bucket or _env("NETMON_S3_BUCKET")
        if not self.bucket:
            raise ValueError("no bucket: pass bucket= (--bucket) or set NETMON_S3_BUCKET")
        self.endpoint = endpoint or _env("NETMON_S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
        self.region = region or _env("NETMON_S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION") or DEFAULT_REGION
        if path_style is None:
            path_style = os.environ.get("NETMON_S3_FORCE_PATH_STYLE", "true").lower() not in ("0", "false", "no")
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.max_workers = max(1, max_workers)
        credentials: dict[str, Any] = {}
        if access_key or secret_key:
            if not (access_key and secret_key):
                raise ValueError("give both access_key and secret_key, or neither (then boto3's chain applies)")
            credentials = {"aws_access_key_id": access_key, "aws_secret_access_key": secret_key}
            if session_token:
                credentials["aws_session_token"] = session_token
        session = boto3.session.Session()
        self.client = session.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            config=Config(
                s3={"addressing_style": "path" if path_style else "auto"},
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=5,
                read_timeout=60,
                max_pool_connections=max(10, self.max_workers),
            ),
            **credentials,
        )
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.client.meta.events.register("before-call.s3", self._count)

    def _count(self, model: Any = None, **_: Any) -> None:
        with self._lock:
            self.requests[model.name if model is not None else "?"] += 1

    def __repr__(self) -> str:
        where = self.endpoint or "AWS"
        cache = str(self.cache_dir)
        return f"S3Source(bucket={self.bucket!r}, endpoint={where!r}, prefix={self.prefix!r}, cache={cache!r})"

    @classmethod
    def from_demo(cls, out: str | os.PathLike[str], **kwargs: Any) -> "S3Source":
        """The embedded S3 of a running ``npm run demo -- --keep --out DIR``: DIR or DIR/summary.json."""
        path = Path(out)
        if path.is_dir():
            path = path / "summary.json"
        try:
            summary = json.loads(path.read_text())
            s3 = summary["stack"]["s3"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise NetmonDataError(f"{path}: not a demo summary with a stack.s3 block ({err})") from err
        if summary["stack"].get("running") is False:
            warnings.warn(f"{path}: the demo ran without --keep, so its S3 has stopped", stacklevel=2)
        return cls(
            bucket=s3["bucket"],
            endpoint=s3["endpoint"],
            access_key=s3.get("accessKeyId"),
            secret_key=s3.get("secretAccessKey"),
            **kwargs,
        )

    # -- listing ---------------------------------------------------------

    def _call(self, what: str, fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(Bucket=self.bucket, **kwargs)
        except ClientError as err:
            error = err.response.get("Error", {})
            code = error.get("Code", "?")
            raise S3AccessError(
                f"{what} in s3://{self.bucket} at {self.endpoint or 'AWS'}: {code} {error.get('Message', '')}".rstrip()
            ) from err
        except BotoCoreError as err:
            raise S3AccessError(f"{what} in s3://{self.bucket} at {self.endpoint or 'AWS'}: {err}") from err

    def _pages(self, prefix: str, delimiter: str | None) -> Iterable[dict[str, Any]]:
        """ListObjects (v1) with markers: s3rver's v2 continuation tokens fail on Node 24."""
        marker: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Prefix": prefix}
            if delimiter:
                kwargs["Delimiter"] = delimiter
            if marker:
                kwargs["Marker"] = marker
            page = self._call(f"list {prefix}", self.client.list_objects, **kwargs)
            yield page
            if not page.get("IsTruncated"):
                return
            seen = [o["Key"] for o in page.get("Contents", [])] + [p["Prefix"] for p in page.get("CommonPrefixes", [])]
            following = page.get("NextMarker") or (max(seen) if seen else None)
            if not following or following == marker:
                return
            marker = following

    def list_objects(self, prefix: str) -> list[ObjectInfo]:
        """Every object under the (already prefixed) key prefix."""
        found = []
        for page in self._pages(prefix, None):
            for obj in page.get("Contents", []):
                found.append(ObjectInfo(obj["Key"], obj.get("ETag", ""), int(obj.get("Size", 0))))
        return found

    def list_folders(self, prefix: str) -> list[str]:
        """The names of the "folders" directly under the (already prefixed) key prefix, undecoded."""
        names = []
        for page in self._pages(prefix, "/"):
            for p in page.get("CommonPrefixes", []):
                names.append(p["Prefix"][len(prefix) :].rstrip("/"))
        return names

    def schedules(self) -> list[str]:
        """Every schedule that has rounds, results or archives in the bucket."""
        names: set[str] = set()
        # rounds/ first: s3rver lists common prefixes only one folder deep.
        for folder in ("rounds/", "results/", "archives/"):
            for segment in self.list_folders(self.prefix + folder):
                try:
                    names.add(decode_segment(segment))
                except UnicodeDecodeError:
                    continue
        return sorted(names)

    def _schedules_for(self, flt: Filter) -> list[str]:
        known = self.schedules()
        if flt.schedule is None:
            return known
        unknown = sorted(s for s in flt.schedule if s not in known)
        if unknown:
            raise UnknownScheduleError(unknown, known)
        return sorted(flt.schedule)

    def list_results(self, flt: Filter | None = None, **filters: Any) -> list[tuple[ResultKey, ObjectInfo]]:
        """Result record keys that may match (schedule, src, dst; rounds outside the time range skipped).

        Test name and start time are inside the records: ``records()`` applies them.
        Without a time range every result of the schedule is listed; with one,
        the rounds come from the round manifests (``rounds/<schedule>/``) and
        only the rounds that may hold tests in the range are listed.
        """
        flt = flt or Filter.of(**filters)
        found = []
        for schedule in self._schedules_for(flt):
            base = f"{self.prefix}results/{encode_segment(schedule)}/"
            if flt.since is None and flt.until is None:
                prefixes = [base]
            else:
                # No delimiter listing here: s3rver returns no common prefixes
                # for folders more than one level deep.
                rounds = f"{self.prefix}rounds/{encode_segment(schedule)}/"
                manifests = {}
                for info in self.list_objects(rounds):
                    name = info.key[len(rounds) :]
                    if name.endswith(".json") and "/" not in name:
                        manifests[name[: -len(".json")]] = info
                prefixes = [
                    f"{base}{segment}/"
                    for segment, info in sorted(manifests.items())
                    if self._round_may_match(segment, info, flt)
                ]
                if not manifests:  # results without round manifests: list them all
                    prefixes = [base]
            for prefix in prefixes:
                for info in self.list_objects(prefix):
                    parsed = parse_result_key(info.key, self.prefix)
                    if parsed is not None and flt.wants_pair(parsed.src, parsed.dst):
                        found.append((parsed, info))
        return found

    def _round_may_match(self, round_segment: str, manifest_info: ObjectInfo | None, flt: Filter) -> bool:
        """A round's tests start after its cron tick, and those of a closed round before it closed."""
        try:
            tick = parse_compact_time(decode_segment(round_segment))
        except UnicodeDecodeError:
            return True
        if tick is None or (flt.since is None and flt.until is None):
            return True
        if flt.until is not None and tick >= flt.until:
            return False
        if flt.since is not None and tick < flt.since and manifest_info is not None:
            try:
                manifest = self.read_json(manifest_info, missing_ok=True)
            except NetmonDataError:
                return True
            closed = manifest.get("closedAt") if isinstance(manifest, dict) else None
            if isinstance(closed, str):
                try:
                    closed_at = datetime.fromisoformat(closed.replace("Z", "+00:00"))
                except ValueError:
                    return True
                return closed_at >= flt.since
        return True

    def list_archives(self, flt: Filter | None = None, **filters: Any) -> list[tuple[ArchiveKey, ObjectInfo]]:
        """Archive keys that match every filter (all of them are in the key)."""
        flt = flt or Filter.of(**filters)
        found = []
        for schedule in self._schedules_for(flt):
            base = f"{self.prefix}archives/{encode_segment(schedule)}/"
            for prefix in self._archive_prefixes(base, flt):
                for info in self.list_objects(prefix):
                    parsed = parse_archive_key(info.key, self.prefix)
                    if (
                        parsed is not None
                        and flt.wants_pair(parsed.src, parsed.dst)
                        and flt.wants_test(parsed.test)
                        and flt.wants_time(parsed.time)
                    ):
                        found.append((parsed, info))
        found.sort(key=lambda item: (item[0].time, item[0].key))
        return found

    def _archive_prefixes(self, base: str, flt: Filter) -> list[str]:
        """One prefix per day of the time range when it is short, else the whole schedule."""
        if flt.since is None:
            return [base]
        until = flt.until or datetime.now(timezone.utc) + timedelta(days=1)
        first, last = flt.since.date(), until.date()
        days = (last - first).days + 1
        if days > _MAX_DAY_LISTINGS:
            return [base]
        return [f"{base}{(first + timedelta(days=i)).strftime('%Y/%m/%d')}/" for i in range(days)]

    # -- downloads -------------------------------------------------------

    def _cache_path(self, key: str, etag: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()[:40]
        return self.cache_dir / _clean_etag(self.bucket) / digest[:2] / f"{digest}.{_clean_etag(etag)}"

    def cached_path(self, info: ObjectInfo) -> Path | None:
        """The cached copy of this version of the object, if there is one."""
        if not info.etag:
            return None
        path = self._cache_path(info.key, info.etag)
        return path if path.is_file() else None

    def fetch(self, info: ObjectInfo, refresh: bool = False) -> tuple[Path, bool]:
        """The local copy of the object: (path, downloaded?). Cached by key and ETag."""
        if not refresh:
            cached = self.cached_path(info)
            if cached is not None:
                return cached, False
        response = self._call(f"get {info.key}", self.client.get_object, Key=info.key)
        body = response["Body"].read()
        etag = response.get("ETag") or info.etag or hashlib.md5(body).hexdigest()  # noqa: S324 (a name, not security)
        path = self._cache_path(info.key, etag)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_bytes(body)
        os.replace(tmp, path)
        for old in path.parent.glob(path.name.split(".")[0] + ".*"):
            if old != path and not old.name.endswith(".tmp"):
                old.unlink(missing_ok=True)
        return path, True

    def read_json(self, info: ObjectInfo, missing_ok: bool = False) -> Any:
        """A JSON object, through the cache when its ETag is known.

        s3rver rewrites objects in place, so a read racing a write can see half
        a document: such a read is retried a few times before it counts as corrupt.
        """
        for attempt in range(1, 6):
            try:
                path, _ = self.fetch(info, refresh=attempt > 1)
            except S3AccessError as err:
                if missing_ok and isinstance(err.__cause__, ClientError):
                    code = err.__cause__.response.get("Error", {}).get("Code")
                    if code in ("NoSuchKey", "404"):
                        return None
                raise
            try:
                return json.loads(path.read_bytes())
            except ValueError:
                path.unlink(missing_ok=True)
                if attempt == 5:
                    raise NetmonDataError(f"s3://{self.bucket}/{info.key}: not valid JSON") from None
                time.sleep(0.05 * attempt)
        return None  # not reached

    def records(self, flt: Filter | None = None, **filters: Any) -> list[dict[str, Any]]:
        """The result records (TestRecord JSON) that match every filter, oldest first.

        Records that are not valid JSON or lack the fields tables use are skipped with a warning.
        """
        flt = flt or Filter.of(**filters)
        keys = self.list_results(flt)
        out = []
        for _, info in keys:
            try:
                record = self.read_json(info)
            except NetmonDataError as err:
                warnings.warn(f"skipped: {err}", stacklevel=2)
                continue
            problem = _record_problem(record)
            if problem:
                warnings.warn(f"skipped s3://{self.bucket}/{info.key}: {problem}", stacklevel=2)
                continue
            start = _parse_iso(record["startTime"])
            if not (flt.wants_test(record["test"]) and flt.wants_time(start)):
                continue
            record = dict(record)
            record["_key"] = info.key
            out.append(record)
        out.sort(key=lambda r: (r["startTime"], r["src"], r["dst"]))
        return out

    def archives(self, flt: Filter | None = None, **filters: Any) -> list[tuple[ArchiveKey, Path]]:
        """The archives that match every filter, downloaded (or found in the cache), oldest first."""
        flt = flt or Filter.of(**filters)
        listed = self.list_archives(flt)
        report = PullReport()
        paths = self._fetch_all([info for _, info in listed], report)
        for failure in report.failed:
            warnings.warn(f"skipped: {failure}", stacklevel=2)
        return [(parsed, paths[info.key]) for parsed, info in listed if info.key in paths]

    def _fetch_all(self, infos: list[ObjectInfo], report: PullReport) -> dict[str, Path]:
        paths: dict[str, Path] = {}

        def one(info: ObjectInfo) -> tuple[ObjectInfo, Path | None, bool, str | None]:
            try:
                path, downloaded = self.fetch(info)
                return info, path, downloaded, None
            except NetmonDataError as err:
                return info, None, False, str(err)

        pending = []
        for info in infos:
            cached = self.cached_path(info)
            if cached is not None:
                paths[info.key] = cached
                report.cached += 1
            else:
                pending.append(info)
        if pending:
            with ThreadPoolExecutor(max_workers=self.max_workers) as pool:
                for info, path, downloaded, error in pool.map(one, pending):
                    if path is None:
                        report.failed.append(f"{info.key}: {error}")
                        continue
                    paths[info.key] = path
                    if downloaded:
                        report.downloaded += 1
                        report.bytes_downloaded += path.stat().st_size
                    else:
                        report.cached += 1
        return paths

    def pull(
        self, flt: Filter | None = None, *, results: bool = True, archives: bool = True, **filters: Any
    ) -> PullReport:
        """Downloads into the cache what matches the filters (result records and archives)."""
        flt = flt or Filter.of(**filters)
        report = PullReport()
        infos: list[ObjectInfo] = []
        if results:
            listed = self.list_results(flt)
            report.results = len(listed)
            infos += [info for _, info in listed]
        if archives:
            listed_a = self.list_archives(flt)
            report.archives = len(listed_a)
            infos += [info for _, info in listed_a]
        self._fetch_all(infos, report)
        return report


_REQUIRED = {
    "schedule": str,
    "round": str,
    "src": str,
    "dst": str,
    "test": str,
    "startTime": str,
}


def _record_problem(record: Any) -> str | None:
    if not isinstance(record, dict):
        return "not a JSON object"
    if record.get("version") != 1:
        return f"version {record.get('version')!r}, expected 1"
    for name, kind in _REQUIRED.items():
        if not isinstance(record.get(name), kind):
            return f"{name} missing or not a {kind.__name__}"
    # null: the test broke and measured nothing (its reason says why); else 0 or 1.
    connectivity = record.get("connectivity", "missing")
    if isinstance(connectivity, bool) or connectivity not in (0, 1, None):
        return f"connectivity {connectivity!r}, expected 0, 1 or null"
    if _parse_iso(record["startTime"]) is None:
        return f"startTime {record['startTime']!r} is not an ISO time"
    return None


def _parse_iso(text: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
