"""Checkpoints: the aggregator's and the engine's state with the consumed offsets, so a restart replays to the
same signals. Arrays in npz and JSON metadata; no pickle."""

import io
import json

import numpy as np

from features.state_io import dumps as engine_dumps
from features.state_io import loads as engine_loads
from marketdata.aggregate import BarAggregator
from serving.scorer import Scorer


def dumps(scorer: Scorer, offsets: dict[str, int] | None = None) -> bytes:
    arrays = {f"agg/{k}": v for k, v in scorer.agg.state_arrays().items()}
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
    agg = BarAggregator.from_state(
        meta["names"], meta["watermark"], {f[4:]: z[f] for f in z.files if f.startswith("agg/")}
    )
    scorer.agg = agg
    scorer.online.state = engine_loads(bytes(z["engine"]))
    scorer.last_minute = int(meta["last_minute"])
    scorer.breaker.tripped, scorer.breaker._bad, scorer.breaker._good = meta["breaker"]
    return {k: int(v) for k, v in meta["offsets"].items()}
