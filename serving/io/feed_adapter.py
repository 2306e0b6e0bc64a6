"""A vendor's websocket -> the tick topics: `tickwise feed polygon|alpaca`.

:class:`FeedAdapter` connects, authenticates with keys from the environment, subscribes, and reads frames; the
protocol is :mod:`serving.feed.parsers`. Websocket pings keep the heartbeat (a connection whose pong does not come
back is closed and reopened). A dropped connection is reopened with exponential backoff (with jitter) and
resubscribed, and the gap is said: an alert naming the last event time before it and the first after it, since the
vendors do not replay what was sent meanwhile (a backfill from their REST API is needed for that span). An auth
failure stops the adapter (retrying wrong keys only locks the account). The vendor telling the client it is too slow
is alerted, and the reconnect follows.

:class:`TickBatcher` turns the ticks into the project's payload (:mod:`serving.feed.tick_codec`), as
`tickwise stream publish` does: every ``batch_ms`` one message per kind and partition (the partition Kafka's default
partitioner gives the symbol as a key), stamped with the event time the feed has been sent through (header
``tickwise-through``), and an empty batch to a partition with nothing new, so a quiet partition never holds a minute.
Frames are parsed as they come and sending runs on its own timer, so a burst never blocks reading. Refused events
and unreadable frames go to the dead-letter topic with their reason (topic ``feed.<vendor>``, offset the frame's
number).
"""

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from serving.feed import tick_codec
from serving.feed.parsers import Vendor
from serving.io import kafka_io
from serving.io.outputs import DeadLetterSink
from serving.step.ingest import DeadLetter

log = logging.getLogger(__name__)
KINDS = ("trades", "quotes", "status")
CLOCKS = ("trades", "quotes")  # the kinds whose event times say how far the feed has got


class FeedAuthError(RuntimeError):
    """The vendor refused the keys; the text is its answer (never the keys)."""


class TickBatcher:
    """Ticks -> one Arrow message per kind and partition at each :meth:`flush`, to ``<prefix>.<kind>``."""

    def __init__(self, producer, prefix: str = "ticks"):  # type: ignore[no-untyped-def]
        self.producer = producer
        self.topics = {k: f"{prefix}.{k}" for k in KINDS}
        self.partitions = {k: len(producer.partitions_for(t)) for k, t in self.topics.items()}
        self.pending: dict[str, list[dict]] = {k: [] for k in KINDS}
        self.through = 0  # the latest event time of a trade or quote sent on
        self._said = 0  # the event time quiet partitions were last told
        self.sent = 0
        self.messages = 0

    def add(self, kind: str, tick: dict) -> None:
        self.pending[kind].append(tick)

    def flush(self) -> int:
        """Send what is pending; returns the ticks sent."""
        n = 0
        for kind in CLOCKS:
            if self.pending[kind]:
                self.through = max(self.through, max(t["ts"] for t in self.pending[kind]))
        moved = self.through > self._said  # quiet partitions hear of a later event time only when there is one
        self._said = self.through
        head = kafka_io.through_header(self.through) if self.through else None
        for kind, ticks in self.pending.items():
            parts = self.partitions[kind]
            if ticks:
                table = pa.Table.from_pylist(ticks, schema=_schema(kind))
                of = kafka_io.partitions_of_rows(table.column("symbol"), parts)
                for p in sorted(set(of.tolist())):
                    rows = table.filter(pa.array(of == p))
                    self.producer.send(self.topics[kind], tick_codec.encode(kind, rows), partition=p, headers=head)
                    self.messages += 1
                n += len(ticks)
                quiet = set(range(parts)) - set(of.tolist())
            else:
                quiet = set(range(parts))
            if kind in CLOCKS and head and moved:
                empty = tick_codec.encode(kind, _schema(kind).empty_table())
                for p in sorted(quiet):
                    self.producer.send(self.topics[kind], empty, partition=p, headers=head)
            self.pending[kind] = []
        self.sent += n
        return n

    def close(self) -> None:
        self.flush()
        self.producer.flush()


def _schema(kind: str) -> pa.Schema:
    return pa.schema([f for f in tick_codec.WIRE[kind] if f.name not in tick_codec.OPTIONAL])


@dataclass
class FeedStats:
    frames: int = 0
    ticks: int = 0
    refused: int = 0
    ignored: int = 0
    connects: int = 0
    gaps: list[tuple[int, int]] = field(default_factory=list)  # (last event time before, first after), ns


class FeedAdapter:
    def __init__(
        self,
        vendor: Vendor,
        creds: dict[str, str],
        batcher: TickBatcher,
        dead: DeadLetterSink,
        symbols: list[str] | None = None,
        url: str | None = None,
        alert: Callable[[str], None] | None = None,
        batch_ms: float = 10.0,
        backoff_s: tuple[float, float] = (0.5, 30.0),
        ping_s: float = 10.0,
    ):
        self.vendor, self.creds, self.batcher, self.dead = vendor, creds, batcher, dead
        self.symbols, self.url = symbols, url or vendor.url
        self.alert = alert or (lambda m: log.warning("ALERT %s", m))
        self.batch_ms, self.backoff_s, self.ping_s = batch_ms, backoff_s, ping_s
        self.stats = FeedStats()
        self.latest = 0  # the latest event time of a trade or quote received
        self._gap_from: int | None = None  # the last event time before a disconnect, until the first after it

    async def run(self, stop: asyncio.Event | None = None) -> FeedStats:
        """Read until ``stop`` is set (forever without one); reconnects on its own. Raises :class:`FeedAuthError`."""
        stop = stop or asyncio.Event()
        sender = asyncio.create_task(self._send_every(stop))
        delay = self.backoff_s[0]
        try:
            while not stop.is_set():
                try:
                    if await self._session(stop):
                        delay = self.backoff_s[0]  # it was subscribed: the next drop starts the backoff again
                except FeedAuthError:
                    raise
                except (OSError, TimeoutError, WebSocketException) as e:
                    self.alert(f"feed {self.vendor.name}: connection lost ({_why(e)}); reconnecting in {delay:.1f} s")
                if stop.is_set():
                    break
                if self._gap_from is None and self.latest:
                    self._gap_from = self.latest
                try:
                    await asyncio.wait_for(stop.wait(), delay * random.uniform(0.8, 1.2))
                except TimeoutError:
                    pass
                delay = min(delay * 2, self.backoff_s[1])
        finally:
            stop.set()
            await sender
            self.batcher.close()
            self.dead.flush()
        return self.stats

    async def _session(self, stop: asyncio.Event) -> bool:
        """One connection: handshake, then frames until it closes or ``stop``; True once it was subscribed."""
        async with connect(self.url, ping_interval=self.ping_s, ping_timeout=self.ping_s, max_size=2**24) as ws:
            self.stats.connects += 1
            await self._expect(ws, "connected")
            await ws.send(self.vendor.auth(self.creds))
            await self._expect(ws, "authenticated")
            await ws.send(self.vendor.subscribe(self.symbols))
            await self._expect(ws, "subscribed")
            log.info("feed %s: subscribed to %s at %s", self.vendor.name, self._what(), self.url)
            reader = asyncio.ensure_future(self._read(ws))
            stopper = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if reader in done:
                reader.result()  # the reason it closed, raised
            else:
                reader.cancel()
            return True

    def _what(self) -> str:
        return "every symbol" if not self.symbols else f"{len(self.symbols)} symbols"

    async def _expect(self, ws, what: str, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
        """Frames until the control event ``what``; an auth failure or an error raises."""
        deadline = time.monotonic() + timeout
        while True:
            frame = await asyncio.wait_for(ws.recv(), max(deadline - time.monotonic(), 0.01))
            got = self._frame(frame)
            if got is None:
                continue
            for event, text in got.control:
                if event == what or (what == "connected" and event == "authenticated"):
                    return
                if event == "auth_failed":
                    raise FeedAuthError(f"{self.vendor.name} refused the keys: {text}")
                if event in ("error", "slow"):
                    raise ConnectionError(f"{self.vendor.name} said {text!r} while waiting for {what}")

    async def _read(self, ws) -> None:  # type: ignore[no-untyped-def]
        async for frame in ws:
            got = self._frame(frame)
            if got is None:
                continue
            for event, text in got.control:
                if event == "slow":
                    self.alert(f"feed {self.vendor.name}: the vendor says this client is too slow ({text})")
                elif event == "auth_failed":
                    raise FeedAuthError(f"{self.vendor.name} refused the keys: {text}")
                elif event == "error":
                    self.alert(f"feed {self.vendor.name}: the vendor reports an error ({text})")

    def _frame(self, frame: str | bytes):  # type: ignore[no-untyped-def]
        """Parse one frame, hand its ticks to the batcher, dead-letter what it refuses; None if unreadable."""
        self.stats.frames += 1
        n = self.stats.frames
        try:
            got = self.vendor.parse(frame)
        except tick_codec.BadTick as e:
            raw = frame.encode() if isinstance(frame, str) else frame
            self.dead.send([DeadLetter(f"feed.{self.vendor.name}", 0, n, str(e), value=raw)])
            self.stats.refused += 1
            return None
        if got.refused:
            self.dead.send(
                [DeadLetter(f"feed.{self.vendor.name}", 0, n, why, index=i, tick=ev) for i, why, ev in got.refused]
            )
            self.stats.refused += len(got.refused)
        clocks = [t["ts"] for k, t in got.ticks if k in CLOCKS]
        if clocks and self._gap_from is not None:
            first = min(clocks)
            self.stats.gaps.append((self._gap_from, first))
            self.alert(
                f"feed {self.vendor.name}: gap in the feed: nothing received between event times "
                f"{_iso(self._gap_from)} and {_iso(first)} (the vendor does not resend: backfill that span)"
            )
            self._gap_from = None
        if clocks:
            self.latest = max(self.latest, max(clocks))
        for kind, tick in got.ticks:
            self.batcher.add(kind, tick)
        self.stats.ticks += len(got.ticks)
        self.stats.ignored += got.ignored
        return got

    async def _send_every(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), self.batch_ms / 1e3)
            except TimeoutError:
                pass
            self.batcher.flush()


def _why(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def _iso(ns: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).isoformat(timespec="milliseconds")
