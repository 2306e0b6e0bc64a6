"""The embedded default's replay: a lake day through the one loop (serving.app.loop), in-process, minute by minute."""

import datetime as dt
import logging
from collections.abc import Callable

from marketdata.lake import Lake
from serving.app.loop import ScoringLoop
from serving.io.online_store import InProcessOnlineStore, OnlineStore
from serving.io.outputs import ListDeadLetters, Outputs
from serving.io.sinks import ListSink, SignalSink
from serving.io.sources import LakeBarsSource, LakeTickSource
from serving.step.ingest import TickAssembler
from serving.step.scorer import CycleResult, Scorer

log = logging.getLogger(__name__)


def replay_loop(
    scorer: Scorer,
    lake: Lake,
    day: dt.date,
    use_ticks: bool | None = None,
    store: OnlineStore | None = None,
    sink: SignalSink | None = None,
    alert: Callable[[str], None] | None = None,
) -> ScoringLoop:
    """The loop over ``day`` from ``lake``: its ticks when it has them (the aggregator builds the bars, each minute
    closed at its end), else its bars."""
    ticks = lake.exists("trades") and day in lake.dates("trades") if use_ticks is None else use_ticks
    source = LakeTickSource(lake, day) if ticks else LakeBarsSource(lake, day)
    outputs = Outputs(
        sink or ListSink(), store or InProcessOnlineStore(scorer.engine.version), alert or log.warning, None
    )
    return ScoringLoop(source, TickAssembler(lateness_ns=0), scorer, outputs, ListDeadLetters())


def replay_day(
    scorer: Scorer,
    lake: Lake,
    day: dt.date,
    use_ticks: bool | None = None,
    alert: Callable[[str], None] | None = None,
) -> list[CycleResult]:
    """Every cycle of ``day`` (see :func:`replay_loop`)."""
    loop = replay_loop(scorer, lake, day, use_ticks, alert=alert)
    out: list[CycleResult] = []
    while not loop.source.exhausted:
        out += loop.poll_once()
    return out
