"""What the Flink tests check the lake with."""

import time

import pyarrow as pa
import pyarrow.compute as pc

from marketdata.lake import Lake


def ticks_key(t: pa.Table) -> list:
    cols = [
        c for c in t.column_names if c in ("symbol", "ts", "seq", "price", "size", "bid", "ask", "bid_size", "ask_size")
    ]
    return sorted(
        zip(*((t.column(c).cast(pa.int64()) if c == "ts" else t.column(c)).to_pylist() for c in cols), strict=True)
    )


def wait_for_lake(lake: Lake, raw: dict[str, pa.Table], last: int, timeout: float = 60.0) -> dict[str, pa.Table]:
    """The lake's trades, quotes and bars once every raw tick and every bar through ``last`` has landed."""
    deadline = time.monotonic() + timeout
    while True:
        got = {d: lake.read(d) if lake.exists(d) else None for d in ("trades", "quotes", "bars_1m")}
        if (
            all(got[k] is not None and got[k].num_rows >= t.num_rows for k, t in raw.items())
            and got["bars_1m"] is not None
        ):
            b = got["bars_1m"].column("ts").cast(pa.int64())
            if pc.max(b).as_py() >= last:
                return got
        if time.monotonic() > deadline:
            have = {k: (v.num_rows if v is not None else None) for k, v in got.items()}
            raise AssertionError(f"the lake did not get every tick and bar within {timeout:.0f} s: {have}")
        time.sleep(0.5)
