"""The champion at run time: compiled trees (lleaves, cached by model checksum) or LightGBM's own predict; the
engine's categorical codes translated to the model's (:mod:`features.codes`) before it sees them."""

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from features import codes
from modeling.registry import LoadedModel

log = logging.getLogger(__name__)


class ModelRuntime:
    """Predicts ``p_up`` for a cross-section. ``compiled`` tells whether native code is in use."""

    def __init__(self, loaded: LoadedModel, compile_trees: bool = True, cache_dir: str | None = None):
        self.loaded = loaded
        self.version = loaded.version
        self.feature_set_version = loaded.feature_set_version
        self.feature_names = loaded.feature_names
        self.codes = loaded.codes
        self._index = {k: codes.index(v) for k, v in (loaded.codes or {}).items()}
        self._tables: dict[str, np.ndarray] = {}  # per categorical: engine code -> model code
        self._bound: dict[str, tuple[list[str], int]] = {}  # the engine table each translates, and its length
        self.compiled = False
        self._lleaves = None
        if compile_trees:
            self._compile(Path(cache_dir or os.environ.get("TICKWISE_MODEL_CACHE", ".cache/models")))

    def _compile(self, cache: Path) -> None:
        try:
            import lleaves
        except ImportError:  # the compiler is optional: LightGBM's predict is the documented fallback
            log.warning("lleaves not importable: using LightGBM's predict")
            return
        cache.mkdir(parents=True, exist_ok=True)
        txt = cache / f"{self.loaded.checksum}.txt"
        so = cache / f"{self.loaded.checksum}.so"
        if not txt.exists():
            txt.write_text(self.loaded.booster.model_to_string())
        model = lleaves.Model(model_file=str(txt))
        model.compile(cache=str(so))
        self._lleaves = model
        self.compiled = True

    def bind_codes(self, engine_codes: dict[str, list[str]]) -> list[str]:
        """From now on translate the engine's categorical codes to the model's before predicting. The engine's
        tables (its registry, its sectors) only grow, so a table seen before is extended by its new names only;
        nothing is done when none changed. Returns the newly bound symbols the model keeps under another code."""
        differ: list[str] = []
        for k, table in engine_codes.items():
            at = self._index.get(k)
            seen, n = self._bound.get(k, ([], 0))
            if at is None or (seen is table and n == len(table)):
                continue
            first = n if seen is table else 0  # the same list grown, or another engine's (a restored state)
            tail = codes.translation(at, table, first)
            self._tables[k] = np.concatenate([self._tables[k][:first], tail]) if first else tail
            self._bound[k] = (table, len(table))  # holding the list keeps its id from being reused
            if k == "symbol_id":
                differ += codes.differing(at, table, first)
        return differ

    def predict(self, X: np.ndarray) -> np.ndarray:
        # the model sees the float32 rows that training used and the online store serves, nothing finer
        X = np.array(np.asarray(X, dtype=np.float32), dtype=np.float64, order="C")  # a copy: recoded in place
        if self._tables:
            codes.recode(X, self.feature_names, self._tables)
        if self._lleaves is not None:
            chunks = min(_THREADS, max(1, len(X) // 1000))
            if chunks == 1:
                return self._lleaves.predict(X, n_jobs=1)
            # rows are independent: split them over a persistent pool (the native call releases the GIL);
            # lleaves' own n_jobs builds a new pool per call (STACK.md), this one is built once
            parts = [_pool().submit(self._lleaves.predict, c, 1) for c in np.array_split(X, chunks)]
            return np.concatenate([f.result() for f in parts])
        return self.loaded.booster.predict(X, num_threads=1)


_THREADS = max(1, min(2, os.cpu_count() or 1))
_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(_THREADS, thread_name_prefix="lleaves")
    return _POOL
