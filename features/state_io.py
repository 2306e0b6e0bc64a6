"""Save and restore :class:`EngineState` exactly (npz arrays + JSON for the registry; no pickle)."""

import io
import json

import numpy as np

from features.engine import ENGINE_VERSION, EngineState

ARRAYS = ("last_close", "last_session", "last_upd_ts", "nupd", "last_out")


def to_arrays(st: EngineState) -> tuple[dict[str, np.ndarray], dict]:
    """The state as named arrays (the live ones, not copies) and JSON-able metadata: what a checkpoint stores."""
    arrays = {f"e/{k}": getattr(st, k) for k in ARRAYS}
    for i, ks in enumerate(st.kernels):
        for key, arr in ks.items():
            arrays[f"k{i}/{key}"] = arr
    meta = {
        "engine": ENGINE_VERSION,
        "symbols": st.symbols,
        "session": st.session,
        "last_ts": st.last_ts,
        "n_kernels": len(st.kernels),
        "feature_set": st.feature_set,
    }
    return arrays, meta


def from_arrays(arrays: dict[str, np.ndarray], meta: dict) -> EngineState:
    """The state :func:`to_arrays` described (arrays copied into the engine's layout)."""
    if meta.get("engine") != ENGINE_VERSION:
        raise ValueError(
            f"engine state was saved by engine layout {meta.get('engine', 1)}; this engine is {ENGINE_VERSION}: "
            "recompute it from bars (a backfill of the features asset, or a scorer replay)"
        )
    st = EngineState(
        symbols=list(meta["symbols"]),
        session=int(meta["session"]),
        last_ts=int(meta["last_ts"]),
        feature_set=str(meta.get("feature_set", "")),
    )
    for k in ARRAYS:
        setattr(st, k, _layout(arrays[f"e/{k}"]))
    st.kernels = [{} for _ in range(meta["n_kernels"])]
    for name, arr in arrays.items():
        if name.startswith("k"):
            i, key = name[1:].split("/", 1)
            st.kernels[int(i)][key] = _layout(arr)
    for ks in st.kernels:
        _upgrade(ks)
    return st


def dumps(st: EngineState) -> bytes:
    arrays, meta = to_arrays(st)
    arrays = dict(arrays, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def loads(blob: bytes) -> EngineState:
    z = np.load(io.BytesIO(blob), allow_pickle=False)
    meta = json.loads(bytes(z["meta"]).decode())
    return from_arrays({name: z[name] for name in z.files if name != "meta"}, meta)


def _layout(a: np.ndarray) -> np.ndarray:
    """A copy in the engine's layout: every state array of more than one axis is column-major (symbol last, a
    symbol's values contiguous); a snapshot written before a ring was stored that way is converted, not compiled
    for anew."""
    return np.asfortranarray(a) if a.ndim > 1 else a.copy()


def _upgrade(ks: dict[str, np.ndarray]) -> None:
    """A snapshot from an earlier engine, in today's format (the same numbers):

    * the same-minute volume statistics' mean, variance and count arrays (``m``, ``s``, ``c``) become ``tod``;
    * the rolling VWAP and the Bollinger bands without their running window sums get them, marked stale (the next
      push re-sums the ring)."""
    if {"m", "s", "c", "gm"} <= ks.keys() and "tod" not in ks:
        ks["tod"] = np.asfortranarray(np.stack([ks.pop("m"), ks.pop("s"), ks.pop("c")]))
    if {"spv", "pv", "v"} <= ks.keys() and "run" not in ks:
        ks["run"] = _stale_sums(ks["sv"].shape[0])
    if ks.keys() == {"buf", "buf_n"}:  # the Bollinger ring alone: before session 9
        ks["sums"] = _stale_sums(ks["buf_n"].shape[0])


def _stale_sums(n: int) -> np.ndarray:
    """Running window sums (``features.fused.rolling``) for ``n`` symbols, none valid: re-summed on next push."""
    sums = np.zeros((6, n), order="F")
    sums[5] = -1
    return sums
