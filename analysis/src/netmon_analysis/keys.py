"""The S3 key layout of k8s-netmon (layers/store/keys.ts), read back.

::

    archives/<schedule>/<YYYY>/<MM>/<DD>/<src>/<dst>/<test>-<time>.flent.gz
    results/<schedule>/<round>/<src>/<dst>.json
    rounds/<schedule>/<round>.json

Node and schedule names are encoded reversibly: letters, digits, ``.``, ``_``
and ``-`` stay, every other UTF-8 byte becomes ``%XX``; the segments ``''``,
``.`` and ``..`` are encoded whole (``''`` as ``%00``). Times in keys are ISO
8601 basic format in UTC (``20261126T075012.345Z``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import unquote

_SAFE = re.compile(r"[A-Za-z0-9._-]")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(?:\.(\d{1,6}))?Z$")
_ARCHIVE_FILE = re.compile(r"^(?P<test>.+)-(?P<time>\d{8}T\d{6}(?:\.\d+)?Z)\.flent\.gz$")


def encode_segment(value: str) -> str:
    """Encodes a node or schedule name for a key segment (as keys.ts does)."""
    if value in ("", ".", ".."):
        raw = b"\x00" if value == "" else value.encode()
        return "".join(f"%{b:02X}" for b in raw)
    out = []
    for char in value:
        if _SAFE.fullmatch(char):
            out.append(char)
        else:
            out.extend(f"%{b:02X}" for b in char.encode("utf-8"))
    return "".join(out)


def decode_segment(segment: str) -> str:
    """The name a key segment stands for (the inverse of encode_segment)."""
    decoded = unquote(segment, encoding="utf-8", errors="strict")
    return "" if decoded == "\x00" else decoded


def parse_compact_time(text: str) -> datetime | None:
    """``20261126T075012.345Z`` -> an aware UTC datetime; None when it is not one."""
    match = _COMPACT.match(text)
    if not match:
        return None
    y, mo, d, h, mi, s, frac = match.groups()
    micro = int((frac or "0").ljust(6, "0"))
    try:
        return datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micro, tzinfo=timezone.utc)
    except ValueError:
        return None


def compact_time(when: datetime) -> str:
    """An aware datetime -> ``20261126T075012.345Z`` (milliseconds, as the pipeline writes)."""
    when = when.astimezone(timezone.utc)
    return when.strftime("%Y%m%dT%H%M%S.") + f"{when.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class ArchiveKey:
    key: str
    schedule: str
    src: str
    dst: str
    test: str
    time: datetime


@dataclass(frozen=True)
class ResultKey:
    key: str
    schedule: str
    round: str
    src: str
    dst: str


def parse_archive_key(key: str, prefix: str = "") -> ArchiveKey | None:
    """The fields of an archive key; None for a key that does not follow the layout."""
    if not key.startswith(prefix):
        return None
    parts = key[len(prefix) :].split("/")
    if len(parts) != 8 or parts[0] != "archives":
        return None
    match = _ARCHIVE_FILE.match(parts[7])
    if not match:
        return None
    when = parse_compact_time(match["time"])
    if when is None:
        return None
    try:
        return ArchiveKey(
            key=key,
            schedule=decode_segment(parts[1]),
            src=decode_segment(parts[5]),
            dst=decode_segment(parts[6]),
            test=match["test"],
            time=when,
        )
    except UnicodeDecodeError:
        return None


def parse_result_key(key: str, prefix: str = "") -> ResultKey | None:
    """The fields of a result key; None for a key that does not follow the layout."""
    if not key.startswith(prefix):
        return None
    parts = key[len(prefix) :].split("/")
    if len(parts) != 5 or parts[0] != "results" or not parts[4].endswith(".json"):
        return None
    try:
        return ResultKey(
            key=key,
            schedule=decode_segment(parts[1]),
            round=decode_segment(parts[2]),
            src=decode_segment(parts[3]),
            dst=decode_segment(parts[4][: -len(".json")]),
        )
    except UnicodeDecodeError:
        return None
