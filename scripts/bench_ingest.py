"""Ingesting a file per ticker: one call over all of them against one call per file (decision 029).

Simulates ``--symbols`` tickers × ``--days`` sessions of bars and writes them as one Parquet file per ticker (the
bars_1m columns, stamped at the bar's end, no symbol column), then times:

* ``tickwise ingest bars DIR --symbol-from-filename`` (one call: rows grouped by day, each partition written once);
* the same files one call at a time, for the first ``--sample`` files (in one process, so Python's start-up is not
  counted), and the sum over all files extrapolated from them: each call rewrites every symbol landed before it, so
  its cost grows linearly with the files before it, and the sum quadratically (the fit is printed).

    .venv/bin/python scripts/bench_ingest.py --symbols 2000 --days 5
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--symbols", type=int, default=2000)
    ap.add_argument("--days", type=int, default=5)
    ap.add_argument("--sample", type=int, default=200, help="files ingested one call each, to fit the growth")
    args = ap.parse_args()
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from typer.testing import CliRunner

    from marketdata.lake import Lake
    from marketdata.simulator import MarketSimulator, SimConfig
    from tickwise.cli import app

    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    files = work / "files"
    files.mkdir()
    sim = MarketSimulator(SimConfig(symbols=args.symbols, days=args.days, seed=1))
    bars = pa.concat_tables([d.bars for d in sim.days()])
    names = pc.unique(bars.column("symbol")).to_pylist()
    by = bars.sort_by([("symbol", "ascending"), ("ts", "ascending")])
    sym = by.column("symbol").to_numpy(zero_copy_only=False)
    cut = np.r_[0, np.flatnonzero(sym[1:] != sym[:-1]) + 1, len(sym)]
    for lo, hi in zip(cut[:-1], cut[1:], strict=True):
        pq.write_table(by.slice(lo, hi - lo).drop_columns(["symbol"]), files / f"{sym[lo]}.parquet")
    print(f"{len(names):,} files, {bars.num_rows:,} bars over {args.days} sessions in {files}")

    run = CliRunner()
    t0 = time.perf_counter()
    r = run.invoke(
        app, ["ingest", "bars", str(files), "--symbol-from-filename", "--stamp", "end", "--lake", str(work / "one")]
    )
    one = time.perf_counter() - t0
    assert r.exit_code == 0, r.output
    assert Lake(str(work / "one")).read("bars_1m").num_rows == bars.num_rows
    print(f"one call over every file: {one:.1f} s")

    each = []
    for n in sorted(names)[: args.sample]:
        t0 = time.perf_counter()
        a = [
            "ingest",
            "bars",
            str(files / f"{n}.parquet"),
            "--symbol",
            n,
            "--stamp",
            "end",
            "--lake",
            str(work / "each"),
        ]
        r = run.invoke(app, a)
        each.append(time.perf_counter() - t0)
        assert r.exit_code == 0, r.output
    k = np.arange(len(each))
    slope, base = np.polyfit(k, each, 1)
    total = float(np.sum(base + slope * np.arange(len(names))))
    print(
        f"one call per file, first {len(each)} files measured: {sum(each):.1f} s "
        f"(call k costs {base * 1e3:.0f} ms + {slope * 1e3:.2f} ms x k); all {len(names):,} files extrapolated: "
        f"{total:.0f} s, {total / one:.0f}x the one call"
    )


if __name__ == "__main__":
    main()
