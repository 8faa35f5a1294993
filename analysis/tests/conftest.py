"""Fixtures: a real simulated cluster measured by the project's demo, its embedded S3 (s3rver) kept running.

The session starts `node dist/cli.js demo --nodes 3 --length 2 --delay 1
--test rrul --keep --out DIR` as a child process: three network namespaces,
real flent/netperf/irtt/fping runs between them (node-1 -> node-3 is cut on
purpose), every archive and result record stored in s3rver. It writes
DIR/summary.json (with the stack's S3 endpoint) and keeps the stack running
until SIGINT, which the teardown sends; the demo then stops every process and
removes its namespaces, exiting with 130.

Needs root and the project's build (`npm ci && npm run build`). For quicker
development runs, NETMON_ANALYSIS_DEMO=DIR reuses a demo that is already
running with `--keep --out DIR` (the tests expect its default shape: 3 nodes, rrul).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from netmon_analysis import S3Source, samples_frame, summary_frame

REPO = Path(__file__).resolve().parents[2]
NODE = REPO / "node_modules" / ".bin" / "node"
CLI = REPO / "dist" / "cli.js"
NODES = ["node-1", "node-2", "node-3"]
CUT = ("node-1", "node-3")
SCHEDULE = "demo"
START_TIMEOUT_S = 300
STOP_TIMEOUT_S = 120


@dataclass
class Demo:
    out: Path
    summary: dict
    endpoint: str
    bucket: str
    access_key: str
    secret_key: str

    def source(self, cache_dir: Path, **kwargs) -> S3Source:
        return S3Source(
            bucket=self.bucket,
            endpoint=self.endpoint,
            access_key=self.access_key,
            secret_key=self.secret_key,
            cache_dir=cache_dir,
            **kwargs,
        )


def _read_summary(path: Path) -> dict | None:
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # not there yet, or half written
    return summary if summary.get("stack", {}).get("running") else None


def _demo_from(out: Path, summary: dict) -> Demo:
    s3 = summary["stack"]["s3"]
    return Demo(out, summary, s3["endpoint"], s3["bucket"], s3["accessKeyId"], s3["secretAccessKey"])


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _namespaces_of(pid: int) -> list[str]:
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    return [line.split()[0] for line in listing.splitlines() if line.startswith(f"nmsim-{pid}-")]


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory):
    reuse = os.environ.get("NETMON_ANALYSIS_DEMO")
    if reuse:
        summary = _read_summary(Path(reuse) / "summary.json")
        if summary is None:
            pytest.fail(f"NETMON_ANALYSIS_DEMO={reuse}: no summary.json of a running demo (--keep) there")
        yield _demo_from(Path(reuse), summary)
        return
    if os.geteuid() != 0:
        pytest.skip("the simulated cluster needs root (network namespaces, tc, nftables)")
    for needed, hint in ((NODE, "npm ci"), (CLI, "npm run build")):
        if not needed.exists():
            pytest.fail(f"{needed} is missing: run `{hint}` in {REPO} first")
    out = tmp_path_factory.mktemp("demo")
    log_path = out / "demo.log"
    argv = [str(NODE), str(CLI), "demo", "--nodes", "3", "--length", "2", "--delay", "1", "--test", "rrul"]
    argv += ["--keep", "--out", str(out)]
    setpriv = shutil.which("setpriv")
    if setpriv:
        # Should pytest die outright, the demo gets SIGINT and cleans up after itself.
        argv = [setpriv, "--pdeathsig", "INT", "--", *argv]
    env = {**os.environ, "PATH": f"{NODE.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    try:
        summary = _wait_for_stack(proc, out, log_path)
        yield _demo_from(out, summary)
    finally:
        code, left = _stop(proc)
    # Reached only when the demo came up and the tests ran (a failed start reports itself above).
    assert code == 130, f"the demo exited with {code} after SIGINT (130 expected):\n{_tail(log_path)}"
    assert not left, f"the demo left namespaces behind: {left}"


def _wait_for_stack(proc: subprocess.Popen, out: Path, log_path: Path) -> dict:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            pytest.fail(f"the demo exited with {proc.returncode} before its stack was up:\n{_tail(log_path)}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {out}/summary.json after {START_TIMEOUT_S} s:\n{_tail(log_path)}")
        time.sleep(0.5)
        summary = _read_summary(out / "summary.json")
        if summary is not None:
            return summary


def _stop(proc: subprocess.Popen) -> tuple[int | None, list[str]]:
    """SIGINT (the demo's Ctrl-C) when it still runs; SIGKILL and `netmon rig cleanup` if it hangs."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            subprocess.run([str(NODE), str(CLI), "rig", "cleanup"], cwd=REPO, check=False, capture_output=True)
            return None, _namespaces_of(proc.pid)
    return proc.returncode, _namespaces_of(proc.pid)


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def source(demo: Demo, session_cache: Path) -> S3Source:
    """A source on the demo's S3 whose cache already holds everything (one pull)."""
    src = demo.source(session_cache)
    src.pull(schedule=SCHEDULE)
    return src


@pytest.fixture(scope="session")
def summary(source: S3Source):
    return summary_frame(source, schedule=SCHEDULE)


@pytest.fixture(scope="session")
def samples_and_series(source: S3Source):
    return samples_frame(source, schedule=SCHEDULE, with_series=True, errors="raise")


@pytest.fixture(scope="session")
def samples(samples_and_series):
    return samples_and_series[0]
