"""The README's notebook example, run as written (only the demo folder differs) against the demo's S3."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from conftest import Demo

README = Path(__file__).resolve().parents[1] / "README.md"
DEMO_DIR = "/tmp/netmon-demo"


def _example() -> str:
    text = README.read_text()
    section = text[text.index("## Example") :]
    demo_command = re.search(r"```sh\n(.*?)```", section, re.S)
    assert demo_command and f"npm run demo -- --keep --out {DEMO_DIR}" in demo_command.group(1)
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block, "no python block under ## Example"
    return block.group(1)


def test_readme_example_works_as_written(demo: Demo, tmp_path: Path) -> None:
    code = _example()
    assert 3 <= len(code.strip().splitlines()) <= 6
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "NETMON_"))}
    env["NETMON_ANALYSIS_CACHE"] = str(tmp_path / "cache")
    done = subprocess.run(
        [sys.executable, "-c", code.replace(DEMO_DIR, str(demo.out))],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "unreachable" in done.stdout and "latency_median_s" in done.stdout
    assert len([line for line in done.stdout.splitlines() if "node-" in line]) == 6
    assert ET.parse(tmp_path / "latency.svg").getroot().tag.endswith("svg")
