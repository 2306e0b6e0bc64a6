"""The champion at run time, the fastest runtime that is ready: the block walk (:mod:`serving.inference.blockwalk`,
AVX-512 over 64 rows at once, built in a second) where the CPU and a C compiler allow it; else lleaves (native code
per tree, cached by the model's checksum) when its compiled library is in the cache; else the compiled forest over
binned features (:mod:`serving.inference.forest`, built in a second) while lleaves compiles in a child process (a
minute or two for a production-sized model; the child keeps it off the scorer's GIL) and takes over once it is
ready; else LightGBM's own predict. The engine's categorical codes are translated to the model's
(:mod:`features.codes`) first. ``runtime`` says which one serves (``/health``, ``tickwise_cycles_by_runtime_total``).
Two threads share a cross-section's rows in claims (:func:`shared`)."""

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from features import codes
from modeling.loaded import LoadedModel
from serving.inference import blockwalk, forest_walk
from serving.inference.forest import Forest, Unsupported, build

log = logging.getLogger(__name__)
RUNTIMES = ("blockwalk", "forest", "lleaves", "lightgbm")


class ModelRuntime:
    """Predicts ``p_up`` for a cross-section; built off the hot path (a hot reload builds it on its thread).

    ``runtime``: the first of ``prefer`` (default :data:`RUNTIMES`) that takes the model; ``compile_trees=False``
    leaves out the compiled ones (LightGBM's predict only). ``build_s``: how long building took."""

    def __init__(
        self,
        loaded: LoadedModel,
        compile_trees: bool = True,
        cache_dir: str | None = None,
        prefer: tuple[str, ...] = RUNTIMES,
        threads: int | None = None,
        background: bool = True,
    ):
        self.loaded = loaded
        self.version = loaded.version
        self.feature_set_version = loaded.feature_set_version
        self.feature_names = loaded.feature_names
        self.codes = loaded.codes
        self._index = {k: codes.index(v) for k, v in (loaded.codes or {}).items()}
        self._tables: dict[str, np.ndarray] = {}  # per categorical: engine code -> model code
        self._bound: dict[str, tuple[list[str], int]] = {}  # the engine table each translates, and its length
        self.threads = threads or _THREADS
        self.runtime = "lightgbm"
        self._lleaves = None
        self._forest: Forest | None = None
        self._blocks: blockwalk.BlockForest | None = None
        self._upgrade: threading.Thread | None = None
        cache = Path(cache_dir or os.environ.get("TICKWISE_MODEL_CACHE", ".cache/models"))
        t0 = time.perf_counter()
        wanted = [n for n in prefer if n in RUNTIMES] if compile_trees else ["lightgbm"]
        lleaves_ready = "lleaves" in wanted and (cache / f"{loaded.checksum}.so").exists()
        for name in wanted:
            if name == "blockwalk" and self._build_blocks(cache):
                break
            if name == "forest" and not lleaves_ready and self._build_forest():
                if "lleaves" in wanted and background:
                    self._upgrade = threading.Thread(target=self._compile_aside, args=(cache,), daemon=True)
                    self._upgrade.start()
                break
            if name == "lleaves" and self._compile(cache):
                break
            if name == "lightgbm":
                break
        self.build_s = time.perf_counter() - t0

    @property
    def compiled(self) -> bool:
        return self.runtime != "lightgbm"

    def _build_blocks(self, cache: Path) -> bool:
        try:
            f = build(self.loaded.booster.model_to_string())
            self._blocks = blockwalk.BlockForest(f, cache)
        except (Unsupported, blockwalk.Unavailable) as e:
            log.warning("model %s: the block walk does not take it (%s); trying the next runtime", self.version, e)
            return False
        self._forest, self.runtime = f, "blockwalk"
        return True

    def _build_forest(self) -> bool:
        try:
            f = build(self.loaded.booster.model_to_string())
        except Unsupported as e:
            log.warning("model %s: the compiled forest does not take it (%s); trying the next runtime", self.version, e)
            return False
        d = forest_walk.depths(f)
        perfect = int(d.max(initial=0)) <= forest_walk.MAX_PERFECT
        self._tables_walk = (
            forest_walk.perfect_tables(f, int(d.max(initial=0))) if perfect else forest_walk.general_tables(f, d)
        )
        self._kernel = forest_walk.kernel(perfect)
        self._forest, self.runtime = f, "forest"
        return True

    def _compile_aside(self, cache: Path) -> None:
        """lleaves' compile in a child process (it would hold this process's GIL for a minute or more), then the
        swap: the next prediction uses it."""
        import multiprocessing as mp

        t0 = time.perf_counter()
        cache.mkdir(parents=True, exist_ok=True)
        proc = mp.get_context("spawn").Process(
            target=_compile_to,
            args=(self.loaded.booster.model_to_string(), str(cache), self.loaded.checksum),
            daemon=True,  # a scorer that exits does not wait for it
        )
        proc.start()
        proc.join()
        if proc.exitcode != 0:
            log.warning(
                "model %s: lleaves' compile failed (exit %s); the forest keeps serving", self.version, proc.exitcode
            )
            return
        if self._compile(cache):
            log.info(
                "model %s: lleaves ready after %.0f s; it serves from now on", self.version, time.perf_counter() - t0
            )

    def wait_upgrade(self, timeout_s: float | None = None) -> str:
        """Wait for a background compile to finish (tests, benchmarks); the runtime serving after it."""
        if self._upgrade is not None:
            self._upgrade.join(timeout_s)
        return self.runtime

    def _compile(self, cache: Path) -> bool:
        try:
            import lleaves
        except ImportError:  # the compiler is optional: LightGBM's predict is the documented fallback
            log.warning("lleaves not importable: using LightGBM's predict")
            return False
        cache.mkdir(parents=True, exist_ok=True)
        txt = cache / f"{self.loaded.checksum}.txt"
        so = cache / f"{self.loaded.checksum}.so"
        if not txt.exists():
            txt.write_text(self.loaded.booster.model_to_string())
        model = lleaves.Model(model_file=str(txt))
        model.compile(cache=str(so))
        self._lleaves, self.runtime = model, "lleaves"  # predict() reads _lleaves first: the swap is one store
        return True

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
        lleaves_model = self._lleaves
        if lleaves_model is not None:
            return self._split(lambda part: lleaves_model.predict(part, n_jobs=1), X)
        if self._forest is not None:
            return self._forest.transform(self._walk(X))
        return self.loaded.booster.predict(X, num_threads=1)

    def _walk(self, X: np.ndarray) -> np.ndarray:
        """Raw scores: chunks of rows binned and walked (compiled, without the GIL) by this thread and a helper."""
        out = np.empty(len(X))
        blocks = self._blocks

        def part(lo: int, hi: int) -> None:
            if blocks is not None:
                blocks.raw(X, out, lo, hi)
                return
            q = self._forest.codes(X[lo:hi])  # type: ignore[union-attr]
            self._kernel(q, out[lo:hi], 0, hi - lo, *self._tables_walk)

        if self.threads < 2 or len(X) < 2000:
            part(0, len(X))
        else:
            shared(part, len(X), CHUNK)
        return out

    def _split(self, fn, X: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
        """``fn`` (lleaves' predict) over chunks of the rows shared by two threads, as :meth:`_walk` shares them
        (lleaves' own n_jobs builds a new pool per call, STACK.md; this pool is built once)."""
        if self.threads < 2 or len(X) < 2000:
            return fn(X)
        out = np.empty(len(X))

        def part(lo: int, hi: int) -> None:
            out[lo:hi] = fn(X[lo:hi])

        shared(part, len(X), CHUNK)
        return out


def _compile_to(text: str, cache: str, checksum: str) -> None:
    """In a child process, at the lowest priority (the scorer keeps the cores it needs): compile ``text`` with
    lleaves into ``cache/<checksum>.so``."""
    import lleaves

    os.nice(19)
    txt = Path(cache) / f"{checksum}.txt"
    txt.write_text(text)
    lleaves.Model(model_file=str(txt)).compile(cache=str(Path(cache) / f"{checksum}.so"))


CHUNK = 20 * blockwalk.BLOCK  # rows a thread claims at a time: four claims for 5,000 rows


def shared(part, n: int, chunk: int) -> None:  # type: ignore[no-untyped-def]
    """``part(lo, hi)`` over ``[0, n)`` in chunks claimed by this thread and a pool thread. The caller waits only
    for chunks the helper claimed: a helper the scheduler has not woken yet (the other core busy with the broker)
    finds nothing left, and the caller has done it all in the time one thread takes."""
    lock = threading.Condition()
    state: dict = {"next": 0, "helper": 0, "error": None}  # the next row; chunks the helper walks; its error

    def work(helper: bool) -> None:
        while True:
            with lock:
                lo = state["next"]
                if lo >= n or state["error"] is not None:
                    return
                state["next"] = lo + chunk
                state["helper"] += helper
            try:
                part(lo, min(n, lo + chunk))
            except BaseException as e:  # raised again by the caller below, never lost in the pool
                if not helper:
                    raise
                state["error"] = e
            finally:
                if helper:
                    with lock:
                        state["helper"] -= 1
                        lock.notify_all()

    _pool().submit(work, True)
    work(False)
    with lock:
        lock.wait_for(lambda: state["helper"] == 0)
    if state["error"] is not None:
        raise state["error"]


_THREADS = max(1, min(2, os.cpu_count() or 1))
_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(_THREADS, thread_name_prefix="inference")
    return _POOL
