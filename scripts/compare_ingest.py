"""Ingest before and after, in one run: the same stream through this tree's tick assembler and through an older
commit's (one JSON message per tick, its RecordProcessor and aggregator), each on one core.

    .venv/bin/python scripts/compare_ingest.py --old 079f73d --symbols 5000 --minutes 1

The older commit is checked out in a temporary git worktree and run in a child process with the same interpreter
and packages; the stream (the simulator's calibrated rates at ``--ticks-per-second``) is written once as Parquet
and read by both.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OLD_DRIVER = r"""
import json, sys, time
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
from features.engine import FeatureEngine
from serving import tick_codec
from serving.ingest import Record, RecordProcessor
from serving.online_store import InProcessOnlineStore
from serving.scorer import Scorer
from serving.sinks import ListSink
pa.set_cpu_count(1)
d = sys.argv[1]
tabs = {k: pq.read_table(f"{d}/{k}.parquet") for k in ("trades", "quotes")}
recs = []
for kind, t in tabs.items():
    ns = t.column("ts").cast(pa.int64()).to_numpy()
    for (k, v), ts in zip(tick_codec.encode_rows(kind, t), ns):
        recs.append((int(ts), f"ticks.{kind}", k, v))
recs.sort(key=lambda r: r[0])
records = [Record(topic, 0, i, k, v) for i, (_, topic, k, v) in enumerate(recs)]
scorer = Scorer(FeatureEngine(), InProcessOnlineStore("x"), ListSink())
proc = RecordProcessor(scorer, lateness_ns=2_000_000_000, clock=lambda: 2**62)
proc.on_watermark = lambda wm: (scorer.agg.finalize(wm), [])[1]  # ingest only: close minutes, score none
t0 = time.perf_counter()
for i in range(0, len(records), 2000):
    proc.process(records[i : i + 2000])
took = time.perf_counter() - t0
print(json.dumps({"ticks": len(records), "seconds": took, "ticks_per_second": len(records) / took}))
"""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--old", default="079f73d", help="the older commit")
    p.add_argument("--symbols", type=int, default=5000)
    p.add_argument("--minutes", type=int, default=1)
    p.add_argument("--ticks-per-second", type=float, default=50_000)
    a = p.parse_args()
    import pyarrow.parquet as pq

    from tickwise.tools.bench_ingest import run, stream

    with tempfile.TemporaryDirectory() as tmp:
        trades, quotes = stream(a.symbols, a.minutes, a.ticks_per_second)
        pq.write_table(trades, f"{tmp}/trades.parquet")
        pq.write_table(quotes, f"{tmp}/quotes.parquet")
        tree = Path(tmp) / "old"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), a.old], check=True,
                       capture_output=True)  # fmt: skip
        try:
            (tree / "driver.py").write_text(OLD_DRIVER)
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, "driver.py", tmp], cwd=tree, capture_output=True, text=True,
                                 env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"})  # fmt: skip
            if out.returncode != 0:
                print(out.stderr[-3000:], file=sys.stderr)
                return 1
            old = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"old ({a.old}): {old['ticks']:,} ticks in {old['seconds']:.1f} s = {old['ticks_per_second']:,.0f} "
                  f"ticks/s (run took {time.perf_counter() - t0:.0f} s with encoding)")  # fmt: skip
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], capture_output=True)
    new = run(a.symbols, a.minutes, a.ticks_per_second, log=lambda m: None)
    print(f"new: {new['ticks']:,} ticks in {new['seconds']:.2f} s = {new['ticks_per_second']:,.0f} ticks/s "
          f"({new['ticks_per_message']:.0f} ticks a message)")  # fmt: skip
    print(json.dumps({"old": old, "new": {k: new[k] for k in ("ticks", "seconds", "ticks_per_second")}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
