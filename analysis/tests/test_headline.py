"""The headline figures of a pair: the same cases as the TypeScript side (test/unit/headline.test.ts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netmon_analysis import headline, headline_probe, primary_latency_series

CASES = json.loads(
    (Path(__file__).resolve().parents[2] / "test" / "fixtures" / "headline" / "cases.json").read_text()
)["cases"]


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_same_choice_as_typescript(case: dict) -> None:
    assert headline(case["summary"]) == case["headline"]


def test_preferred_probes_then_alphabetical() -> None:
    assert headline_probe(["udp_be", "icmp"]) == "icmp"
    assert headline_probe(["udp_ef", "udp_be", "udp"]) == "udp"
    assert headline_probe(["udp_ef", "udp_bk"]) == "udp_bk"
    assert headline_probe([]) is None


def test_summary_frame_latency_columns_follow_the_headline_series() -> None:
    rrul_without_icmp = CASES[1]["summary"]
    assert primary_latency_series(rrul_without_icmp) == "Ping (ms) UDP BE"
