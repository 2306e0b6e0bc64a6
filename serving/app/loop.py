"""The one loop every mode runs: a source's records -> the tick assembler's closed minutes -> the scoring step ->
the outputs, with dead letters and checkpoints.

Per poll: the records are decoded, screened and folded (:class:`serving.step.ingest.TickAssembler`); each minute the
watermark closes is scored (:class:`serving.step.scorer.Scorer`) and emitted (:class:`serving.io.outputs.Outputs`: the
signal first). After a poll's cycles, the between-cycles work (the latest view, the shadow log when due, the
engine's groundwork for the next minute, the aggregator's compaction) and then a checkpoint capture, handed to the
writer's thread (:mod:`serving.io.checkpoint`): the state after the minute with the source position it covers. A
restart restores the newest checkpoint and seeks the source there, and replays to the same signals.
"""

import logging
import time
from collections.abc import Callable

from serving.app.gc_tuning import between_cycles, freeze_heap
from serving.io import checkpoint
from serving.io.checkpoint import Capture, CheckpointWriter
from serving.io.outputs import DeadLetterSink, Outputs
from serving.io.sources import Source
from serving.step.ingest import TickAssembler
from serving.step.scorer import CycleResult, Scorer

log = logging.getLogger(__name__)


class ScoringLoop:
    def __init__(
        self,
        source: Source,
        assembler: TickAssembler,
        scorer: Scorer,
        outputs: Outputs,
        dead: DeadLetterSink,
        writer: CheckpointWriter | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.source, self.assembler, self.scorer, self.outputs = source, assembler, scorer, outputs
        self.dead, self.writer, self.clock = dead, writer, clock
        self.dead_letters = 0
        self.cycles = 0
        self._committed: dict[str, int] = {}

    # ---- start ---------------------------------------------------------------------------------------------
    def restore(self, only_newer: bool = False) -> int | None:
        """Continue from the newest checkpoint, if the writer's store has one: its minute, else None. With
        ``only_newer`` (this member has just been given partitions: a standby taking over, or a rebalance), only
        a checkpoint past the minute scored here replaces this state; otherwise reading goes on where it was."""
        if self.writer is None:
            return None
        got = checkpoint.load(self.writer.store)
        if got is None:
            return None
        arrays, meta = got
        if only_newer and int(meta["minute"]) <= self.scorer.last_minute:
            return None
        part = lambda p: {k[len(p) :]: v for k, v in arrays.items() if k.startswith(p)}  # noqa: E731
        self.scorer.restore(part("step/"), meta["step"])
        self.assembler.restore(part("agg/"), meta["agg"])
        self.source.seek(meta["position"])
        return int(meta["minute"])

    # ---- the loop -------------------------------------------------------------------------------------------
    def poll_once(self, timeout_ms: int = 50) -> list[CycleResult]:
        poll = self.source.poll(timeout_ms)
        closed, dead = self.assembler.process(poll.records)
        closed = poll.closed + closed
        if poll.watermark is not None:
            closed += self.assembler.flush(poll.watermark)
        for u in self.assembler.take_updates():  # actions, VIX: before the minutes this poll closes
            dead += [u.dead(i, why) for i, why in self.scorer.update(u.kind, u.rows)]
        if dead:
            self.dead.send(dead)
            self.dead_letters += len(dead)
        return self._score(closed)

    def finish(self, watermark: int) -> list[CycleResult]:
        """End of the stream: close every minute up to ``watermark`` and score it."""
        return self._score(self.assembler.flush(watermark))

    def _score(self, closed: list) -> list[CycleResult]:
        cycles: list[CycleResult] = []
        for cl in closed:
            for c in self.scorer.advance(cl.watermark, cl.bars, cl.finalize_ms):
                self.outputs.emit(c)
                cycles.append(c)
        if cycles:
            self.cycles += len(cycles)
            self._between_cycles(cycles[-1].ts)
        self._commit()
        return cycles

    def _between_cycles(self, minute: int) -> None:
        self.outputs.between_cycles()
        self.dead.flush()
        self.scorer.idle()
        self.assembler.compact()
        if self.writer is not None:
            self.writer.submit(self.capture(minute))
        between_cycles()

    def capture(self, minute: int) -> Capture:
        """The state after ``minute`` with the position it covers. The engine's arrays stay live (the writer
        copies them before the next cycle) unless the writer keeps missing that window: then they are copied
        here, once."""
        step_arrays, step_meta = self.scorer.state()
        agg_arrays, agg_meta = self.assembler.state()
        live = {f"step/{k}": v for k, v in step_arrays.items()}
        owned = {f"agg/{k}": v for k, v in agg_arrays.items()}
        if self.writer is not None and self.writer.dropped_in_a_row >= 3:
            owned.update({k: v.copy(order="K") for k, v in live.items()})
            live = {}
        meta = {"step": step_meta, "agg": agg_meta, "position": self.source.position()}
        return Capture(minute, live, owned, meta, self.scorer.generation, lambda: self.scorer.generation)

    def _commit(self) -> None:
        if self.writer is not None and self.writer.landed_position and self.writer.landed_position != self._committed:
            self._committed = self.writer.landed_position
            self.source.commit(self._committed)

    def run(self, idle_seconds: float | None = None, max_cycles: int | None = None) -> int:
        """Poll until the source is exhausted, idle for ``idle_seconds`` (None = never) or ``max_cycles`` ran."""
        self.scorer.idle()  # the first minute's groundwork, done before it (a restored state has none)
        freeze_heap()  # built and warm: full GC passes stay out of the cycles
        n, idle_since, started = 0, self.clock(), self.clock()
        while not self.source.exhausted:
            before = self.source.position()
            n += len(self.poll_once())
            if self.source.position() != before:
                idle_since = self.clock()
            elif not before and self.clock() - started < 60:
                idle_since = self.clock()  # still joining the group: idleness counts from the first records
            if max_cycles is not None and n >= max_cycles:
                break
            if idle_seconds is not None and self.clock() - idle_since > idle_seconds:
                break
        return n

    def close(self) -> None:
        self.outputs.close()
        self.dead.flush()
        if self.writer is not None:
            self.writer.close()
            self._commit()
        self.source.close()
