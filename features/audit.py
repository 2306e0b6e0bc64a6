"""The engine's honesty checks, for any feature set: a researcher's own kernel passes what the default set passes
before a model trains on it (``tickwise audit-features``).

On random streams with the awkward cases (:func:`features.streams.random_stream`: missing bars, halts, a split, a
dividend, a late joiner), for every feature column:

* **future poisoning**: every bar after a cut is rewritten (:func:`features.streams.scramble_after`); no value at
  or before the cut may change;
* **online = offline**: the minute-by-minute engine, restarted from its checkpoint in a fresh engine every
  ``restart_every`` minutes (a kernel keeping anything outside its state fails here), equals the batch fold within
  1e-9 relative, and is missing exactly where it is;
* **backfill = continuous**: folding day by day, the state carried through a save and a load, gives the continuous
  fold's values.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.batch import cross_sections, fold
from features.engine import FeatureEngine
from features.online import OnlineFeatures, minutes_of
from features.state_io import dumps, loads
from features.streams import random_stream, scramble_after

Make = Callable[[pa.Table, pa.Table], FeatureEngine]  # (reference, corporate actions) -> a fresh engine
TOLERANCE = 1e-9


@dataclass
class FeatureAudit:
    name: str
    poisoned: bool = False  # a value at or before the cut changed when only later bars did
    max_rel: float = 0.0  # online vs offline, relative to max(1, |offline|)
    nan_mismatch: int = 0  # rows missing on one side only
    backfill_differs: int = 0  # rows where the day-by-day fold differs from the continuous one

    @property
    def ok(self) -> bool:
        return not self.poisoned and self.max_rel <= TOLERANCE and not self.nan_mismatch and not self.backfill_differs


@dataclass
class AuditReport:
    features: list[FeatureAudit]
    rows: int = 0  # feature rows compared online vs offline, over all streams
    streams: list[int] = field(default_factory=list)  # the seeds

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.features)

    @property
    def failed(self) -> list[FeatureAudit]:
        return [f for f in self.features if not f.ok]


def poisoned(clean: pa.Table, dirty: pa.Table, cut: int, names: list[str]) -> list[str]:
    """The columns of ``names`` whose rows at or before ``cut`` differ between two feature tables (the same bars
    up to the cut; different after)."""

    def upto(t: pa.Table) -> pa.Table:
        t = t.filter(pc.less_equal(t.column("ts").cast(pa.int64()), cut))
        return t.sort_by([("symbol", "ascending"), ("ts", "ascending")])

    a, b = upto(clean), upto(dirty)
    if a.num_rows != b.num_rows:
        return list(names)  # rows appeared or vanished before the cut
    return [n for n in names if not a.column(n).equals(b.column(n))]


def _parity(make: Make, bars: pa.Table, ref: pa.Table, ca: pa.Table, restart_every: int, report: dict) -> int:
    names = [f.name for f in report.values()]
    engine, offline = make(ref, ca), {}  # the same step folded in time order, in float64 (before the float32 cast)
    st = engine.new_state()
    for t, syms, cols, halted in cross_sections(bars):
        st, vals = engine.step(st, t, syms, cols, halted)
        offline.update({(t, s): np.asarray(v, np.float64) for s, v in zip(syms, vals, strict=True)})
    online = OnlineFeatures(make(ref, ca))
    checked = 0
    for i, (t, minute) in enumerate(minutes_of(bars)):
        syms, rows = online.on_minute(t, minute)
        for s, r in zip(syms, rows, strict=True):
            b, r = offline[(t, s)][: len(names)], np.asarray(r, np.float64)[: len(names)]
            miss = np.isnan(r) != np.isnan(b)
            both = ~np.isnan(r) & ~np.isnan(b)
            rel = np.zeros(len(names))
            rel[both] = np.abs(r[both] - b[both]) / np.maximum(1.0, np.abs(b[both]))
            for j, n in enumerate(names):
                f = report[n]
                f.max_rel, f.nan_mismatch = max(f.max_rel, float(rel[j])), f.nan_mismatch + int(miss[j])
            checked += 1
        if restart_every and i % restart_every == restart_every - 1:  # a restart: a fresh engine, the checkpoint
            online = OnlineFeatures(make(ref, ca), loads(online.checkpoint()))
    return checked


def _backfill(make: Make, bars: pa.Table, ref: pa.Table, ca: pa.Table, report: dict) -> None:
    whole, _ = fold(make(ref, ca), bars)
    day = pc.cast(bars.column("ts"), pa.date32())
    state, parts = None, []
    for d in pc.unique(day).to_pylist():
        feats, st = fold(make(ref, ca), bars.filter(pc.equal(day, pa.scalar(d, pa.date32()))), state)
        state = loads(dumps(st))  # as the Dagster asset stores it between partitions
        parts.append(feats)
    by = [("symbol", "ascending"), ("ts", "ascending")]
    a, b = pa.concat_tables(parts).sort_by(by), whole.sort_by(by)
    for n, f in report.items():
        x, y = (t.column(n).to_numpy(zero_copy_only=False).astype(np.float64) for t in (a, b))
        f.backfill_differs += int(np.sum(~((x == y) | (np.isnan(x) & np.isnan(y)))))


def audit(make: Make, seeds: tuple[int, ...] = (0, 1), restart_every: int = 17, days: int = 2) -> AuditReport:
    """Run the three checks on the engines ``make`` builds, one random stream per seed."""
    report: dict[str, FeatureAudit] = {}
    rows = 0
    for seed in seeds:
        bars, ref, ca = random_stream(seed, days=days)
        engine = make(ref, ca)
        names = engine.names
        for n in names:
            report.setdefault(n, FeatureAudit(n))
        ts = np.unique(bars.column("ts").cast(pa.int64()).to_numpy())
        cut = int(ts[len(ts) // 2 + 3])
        clean, _ = fold(engine, bars)
        dirty, _ = fold(make(ref, ca), scramble_after(bars, cut, seed))
        for n in poisoned(clean, dirty, cut, names):
            report[n].poisoned = True
        rows += _parity(make, bars, ref, ca, restart_every, report)
        _backfill(make, bars, ref, ca, report)
    return AuditReport(list(report.values()), rows, list(seeds))
