"""The live scorer's run summaries beside the shadow log, and the day's latency the drift report reads from them.

Each run of a day (a restart adds one, it does not replace the morning's) writes ``run-<written at>.json`` and
``summary.json`` (the latest) under ``<lake>/scorer_runs/date=<day>/``; a latency target holds for the whole
session, so the day's figure is each figure's worst run.
"""

import datetime as dt
import json
from typing import Any

import pyarrow.fs as pafs

from marketdata.lake import Lake


def write_run_summary(lake: Lake, day: dt.date, summary: dict[str, Any]) -> None:
    """The run's figures (cycles, sources, latency percentiles per stage), as ``run-<time>.json`` and
    ``summary.json``."""
    d = lake.path("scorer_runs", day)
    lake.fs.create_dir(d, recursive=True)
    body = json.dumps({"day": str(day), **summary}, indent=1).encode()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    for name in (f"run-{stamp}.json", "summary.json"):
        with lake.fs.open_output_stream(f"{d}/{name}") as f:
            f.write(body)


def day_latency(lake: Lake, day: dt.date) -> dict[str, float] | None:
    """The day's scorer latency (every ``*_ms`` figure) over all its runs: each figure's worst run. None without a
    run."""
    sel = pafs.FileSelector(lake.path("scorer_runs", day), allow_not_found=True)
    names = sorted(i.path for i in lake.fs.get_file_info(sel) if i.base_name.startswith("run-"))
    if not names:  # a day served before runs were kept apart: its one summary
        one = f"{lake.path('scorer_runs', day)}/summary.json"
        names = [one] if lake.fs.get_file_info(one).type == pafs.FileType.File else []
    runs = []
    for n in names:
        with lake.fs.open_input_stream(n) as f:
            runs.append(json.loads(f.read()))
    keys = sorted({k for r in runs for k in r if k.endswith("_ms")})
    if not keys:
        return None
    return {k: max(float(r[k]) for r in runs if k in r) for k in keys}
