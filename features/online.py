"""The online path: the engine driven one minute at a time by finalized bars, as the scorer drives it."""

from collections.abc import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.batch import features_table, minute_grid
from features.engine import EngineState, FeatureEngine
from features.reference_step import INPUTS
from features.state_io import dumps, loads


class OnlineFeatures:
    """Holds the engine state in memory; :meth:`on_minute` takes the bars a watermark finalized for one minute."""

    def __init__(self, engine: FeatureEngine, state: EngineState | None = None):
        self.engine = engine
        self.state = state if state is not None else engine.new_state()

    @property
    def state(self) -> EngineState:
        return self._state

    @state.setter
    def state(self, st: EngineState) -> None:
        """Every state handed in (a restore, the batch path's) is checked against the engine's feature set."""
        self._state = self.engine.adopt(st)

    def on_minute(self, ts: int, bars: pa.Table) -> tuple[list[str], np.ndarray]:
        """Step the engine on the bars stamped ``ts`` (possibly none); returns the symbols and feature rows."""
        cols = {c: bars.column(c).to_numpy(zero_copy_only=False).astype(float) for c in INPUTS}
        halted = bars.column("halted").to_numpy(zero_copy_only=False).astype(bool)
        self._state, rows = self.engine.step(self._state, ts, bars.column("symbol"), cols, halted)
        return bars.column("symbol").to_pylist(), rows

    def prepare(self) -> None:
        """Between minutes: precompute what the next minute needs of bars already seen (the rows do not change)."""
        self.engine.prepare(self.state)

    def checkpoint(self) -> bytes:
        return dumps(self.state)

    def restore(self, blob: bytes) -> None:
        self.state = loads(blob)


def minutes_of(bars: pa.Table) -> Iterator[tuple[int, pa.Table]]:
    """The bars of each grid minute as the live aggregator would emit them (empty tables for quiet minutes)."""
    ts = bars.column("ts").cast(pa.int64())
    for t in minute_grid(ts.to_numpy()):
        yield int(t), bars.filter(pc.equal(ts, t)).sort_by("symbol")


def replay(
    engine: FeatureEngine,
    bars: pa.Table,
    checkpoint_every: int = 0,
    state: EngineState | None = None,
    on_minute: Callable[[int], None] | None = None,
) -> tuple[pa.Table, EngineState]:
    """Serve ``bars`` minute by minute through :class:`OnlineFeatures` (continuing from ``state`` if given, as the
    scorer does from the batch path's state); optionally checkpoint and restore the state every
    ``checkpoint_every`` minutes (as a restarted scorer would) — the rows must not change. ``on_minute`` is told
    each minute served (progress)."""
    online = OnlineFeatures(engine, state)
    syms: list[str] = []
    tss: list[int] = []
    rows: list[np.ndarray] = []
    for i, (t, minute_bars) in enumerate(minutes_of(bars)):
        s, r = online.on_minute(t, minute_bars)
        online.prepare()  # what the scorer does between cycles
        if s:
            syms.extend(s)
            tss.extend([t] * len(s))
            rows.append(r.astype(np.float32))  # served rows are float32 (Redis packs <f4)
        if checkpoint_every and (i + 1) % checkpoint_every == 0:
            online = OnlineFeatures(engine, loads(online.checkpoint()))
        if on_minute:
            on_minute(t)
    return features_table(engine, syms, tss, rows), online.state
