"""The headline figures of a pair: the same choice as k8s-netmon's graph, tables and demo.

The TypeScript side lives in ``layers/domain/headline.ts``; both are checked
against the same cases (``test/fixtures/headline/cases.json``) and explained in
``docs/headline-figures.md``:

* latency: the median round trip of the first probe found in ``HEADLINE_PROBES``
  (ICMP, then UDP), else of the alphabetically first probe; loss is that probe's;
* throughput: the mean per direction of data flow (``src_to_dst`` is flent's
  upload, ``dst_to_src`` its download).
"""

from __future__ import annotations

import re
from typing import Any

HEADLINE_PROBES = ("icmp", "udp", "udp_be")
HEADLINE_LATENCY_STAT = "median"
HEADLINE_THROUGHPUT_STAT = "mean"
#: flent's direction -> direction of data flow relative to the pair (the client runs on src).
FLOW_OF = {"upload": "src_to_dst", "download": "dst_to_src"}


def probe_name(series: str) -> str | None:
    """``"Ping (ms) UDP BE"`` -> ``"udp_be"`` (the metrics' probe label); None for flent's average."""
    name = series.strip().lower()
    if name.startswith("ping (ms) "):
        name = name[len("ping (ms) ") :]
    name = re.sub(r"[^a-z0-9_]", "_", re.sub(r"\s+", "_", name.strip()))
    return None if name in ("", "avg") else name


def headline_probe(probes: list[str]) -> str | None:
    """Which of the probe labels is the pair's headline."""
    ordered = sorted(probes)
    for preferred in HEADLINE_PROBES:
        if preferred in ordered:
            return preferred
    return ordered[0] if ordered else None


def headline_series(summary: dict[str, Any] | None) -> str | None:
    """The flent latency series behind the headline latency of a record's summary."""
    latency = (summary or {}).get("latency") or {}
    by_probe = {probe_name(name): name for name in latency if probe_name(name) is not None}
    probe = headline_probe(list(by_probe))
    return by_probe.get(probe) if probe is not None else None


def headline(summary: dict[str, Any] | None) -> dict[str, Any]:
    """``{"probe", "latencySeconds", "lossRatio", "throughput": {"src_to_dst", "dst_to_src"}}``; None where not measured."""
    series = headline_series(summary)
    stats = ((summary or {}).get("latency") or {}).get(series) or {} if series else {}
    throughput: dict[str, float | None] = {"src_to_dst": None, "dst_to_src": None}
    for direction, flow in FLOW_OF.items():
        total = (((summary or {}).get("throughput") or {}).get(direction) or {}).get("total") or {}
        throughput[flow] = total.get(HEADLINE_THROUGHPUT_STAT)
    return {
        "probe": probe_name(series) if series else None,
        "latencySeconds": stats.get(HEADLINE_LATENCY_STAT),
        "lossRatio": stats.get("lossRatio"),
        "throughput": throughput,
    }
