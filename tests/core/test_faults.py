from __future__ import annotations

import time
from pathlib import Path

from hashcart.faults import FaultPoints, parse_faults


def test_parse_faults_reads_names_and_seconds_and_skips_junk() -> None:
    assert parse_faults("a=1.5, b=0,junk,=3,c=x") == {"a": 1.5, "b": 0.0}


async def test_a_named_point_pauses_and_reports(tmp_path: Path) -> None:
    report = tmp_path / "reached"
    points = FaultPoints({"HASHCART_FAULTS": "slow=0.2", "HASHCART_FAULTS_REPORT": str(report)})
    started = time.monotonic()
    await points.reach("other")
    assert time.monotonic() - started < 0.1
    await points.reach("slow")
    assert time.monotonic() - started >= 0.2
    assert report.read_text().split()[0] == "slow"
