"""Checkpoints: the aggregator's and the engine's state with the consumed offsets, so a restart replays to the
same signals. Arrays in npz and JSON metadata; no pickle."""

import io
import json

import numpy as np

from features.state_io import dumps as engine_dumps
from features.state_io import loads as engine_loads
from marketdata.aggregate import BarAggregator, _Buffer
from serving.scorer import Scorer


def _agg_arrays(agg: BarAggregator) -> dict[str, np.ndarray]:
    out = {"halts": agg._halts, "last_close": agg._last_close, "last_quote": agg._last_quote}
    for name, buf in (("t", agg._trades), ("q", agg._quotes)):
        for k, parts in buf.cols.items():
            out[f"{name}/{k}"] = np.concatenate(parts)
    return out


def dumps(scorer: Scorer, offsets: dict[str, int] | None = None) -> bytes:
    arrays = {f"agg/{k}": v for k, v in _agg_arrays(scorer.agg).items()}
    arrays["engine"] = np.frombuffer(engine_dumps(scorer.online.state), dtype=np.uint8)
    meta = {
        "names": scorer.agg._names,
        "watermark": int(scorer.agg.watermark),
        "last_minute": scorer.last_minute,
        "offsets": offsets or {},
        "breaker": [scorer.breaker.tripped, scorer.breaker._bad, scorer.breaker._good],
    }
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def restore(scorer: Scorer, blob: bytes) -> dict[str, int]:
    """Load a checkpoint into ``scorer``; returns the offsets to resume from."""
    z = np.load(io.BytesIO(blob), allow_pickle=False)
    meta = json.loads(bytes(z["meta"]).decode())
    agg = BarAggregator()
    agg._names = list(meta["names"])
    agg._codes = {s: i for i, s in enumerate(agg._names)}
    agg.watermark = int(meta["watermark"])
    agg._halts, agg._last_close, agg._last_quote = (z[f"agg/{k}"].copy() for k in ("halts", "last_close", "last_quote"))
    for name, target in (("t", "_trades"), ("q", "_quotes")):
        b = _Buffer()
        cols = {f.split("/", 2)[2]: z[f].copy() for f in z.files if f.startswith(f"agg/{name}/")}
        if cols:
            b.append(**cols)
        setattr(agg, target, b)
    scorer.agg = agg
    scorer.online.state = engine_loads(bytes(z["engine"]))
    scorer.last_minute = int(meta["last_minute"])
    scorer.breaker.tripped, scorer.breaker._bad, scorer.breaker._good = meta["breaker"]
    return {k: int(v) for k, v in meta["offsets"].items()}
