"""The live feed adapters against a local websocket server that plays each vendor's documented message sequences
(started here; no vendor is reachable), producing to the real broker: handshake, subscription, ticks in the
project's payload partitioned by symbol, halts, trade conditions, corrections and cancels dead-lettered with their
reason, a malformed frame, a dropped connection (reconnect, resubscribe, the gap said), the vendor's slow-client
error, a burst, and an auth failure that stops the adapter without ever showing the keys."""

import asyncio
import json
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pytest
from websockets.asyncio.server import serve

from serving.feed import tick_codec
from serving.feed.parsers import Alpaca, Polygon
from serving.io import kafka_io
from serving.io.feed_adapter import FeedAdapter, FeedAuthError, TickBatcher
from serving.io.outputs import KafkaDeadLetters
from tests.serving.helpers import read_now

ROOT = Path(__file__).resolve().parents[2]
T0_MS = 1_772_461_800_000  # 2026-03-02 14:30 UTC


@dataclass
class Vendor:
    """A scripted vendor: ``sessions[i]`` is what connection i sends after the handshake (frames; "DROP" aborts the
    connection, "HOLD" keeps it open); ``key`` the key it accepts."""

    hello: str
    ok: str
    bad: str
    subscribed: str
    sessions: list[list[str]]
    key: str
    received: list[list[dict]] = field(default_factory=list)

    async def handler(self, ws) -> None:  # type: ignore[no-untyped-def]
        i = len(self.received)
        self.received.append([])
        await ws.send(self.hello)
        auth = json.loads(await ws.recv())
        self.received[i].append(auth)
        if self.key not in json.dumps(auth):
            await ws.send(self.bad)
            await ws.close()
            return
        await ws.send(self.ok)
        self.received[i].append(json.loads(await ws.recv()))
        await ws.send(self.subscribed)
        for frame in self.sessions[min(i, len(self.sessions) - 1)]:
            if frame == "DROP":
                ws.transport.abort()  # the network goes away mid-stream: no close frame
                return
            if frame == "HOLD":
                await ws.wait_closed()
                return
            await ws.send(frame)


async def run_adapter(vendor, server: Vendor, creds, batcher, dead, until, alerts, timeout=30.0):  # type: ignore[no-untyped-def]
    async with serve(server.handler, "127.0.0.1", 0) as srv:
        port = srv.sockets[0].getsockname()[1]
        adapter = FeedAdapter(vendor, creds, batcher, dead, url=f"ws://127.0.0.1:{port}", alert=alerts.append,
                              backoff_s=(0.2, 1.0))  # fmt: skip
        stop = asyncio.Event()
        task = asyncio.create_task(adapter.run(stop))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not until(adapter) and not task.done() and loop.time() < deadline:
            await asyncio.sleep(0.05)
        stop.set()
        await task
        return adapter


def ticks_on(bootstrap: str, topic: str, kind: str) -> pa.Table:
    """Every tick on the topic, checking each message went to its symbols' partition."""
    tables = []
    for m in read_now(bootstrap, topic):
        t = pa.ipc.open_stream(m.value).read_all()
        if t.num_rows:
            parts = kafka_io.partitions_of_rows(t.column("symbol"), 4)
            assert set(parts.tolist()) == {m.partition}, "a tick on another partition than its symbol's"
            tables.append(t)
    return pa.concat_tables(tables) if tables else tick_codec.WIRE[kind].empty_table()


def setup(bootstrap: str):  # type: ignore[no-untyped-def]
    run = uuid.uuid4().hex[:8]
    prefix = f"feed-{run}.ticks"
    kafka_io.ensure_topics(bootstrap, [f"{prefix}.{k}" for k in ("trades", "quotes", "status")], partitions=4)
    batcher = TickBatcher(kafka_io.feed_producer(bootstrap), prefix=prefix)
    return prefix, batcher, KafkaDeadLetters(bootstrap, f"{prefix}.dlq")


def iso(ms: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ms / 1e3, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def a_trade(sym: str, i: int, ms: int, cond: list[str] | None = None) -> dict:
    return {"T": "t", "S": sym, "i": i, "x": "V", "p": 100.0 + i % 7, "s": 100, "t": iso(ms), "c": cond or ["@"],
            "z": "C"}  # fmt: skip


def test_alpaca_session_with_conditions_halts_a_slow_client_error_and_a_reconnect(kafka_bootstrap, caplog):
    syms = ["AAPL", "MSFT", "AMD", "SPY", "QQQ", "IWM"]
    first = [json.dumps([a_trade(s, 10 * k + j, T0_MS + 100 * k + j) for j, s in enumerate(syms)]) for k in range(10)]
    quote = {"T": "q", "S": "AMD", "bx": "U", "bp": 87.66, "bs": 1, "ax": "Q", "ap": 87.68, "as": 4,
             "t": iso(T0_MS + 50), "c": ["R"], "z": "C"}  # fmt: skip
    odd = [
        json.dumps([quote, a_trade("AAPL", 900, T0_MS + 1200, ["@", "Z"])]),  # sold out of sequence: refused
        "{not json",
        json.dumps(
            [
                {
                    "T": "c",
                    "S": "MSFT",
                    "x": "V",
                    "oi": 11,
                    "op": 101.0,
                    "os": 100,
                    "oc": ["@"],
                    "ci": 901,
                    "cp": 101.5,
                    "cs": 100,
                    "cc": ["@"],
                    "t": iso(T0_MS + 1300),
                    "z": "C",
                },
                {
                    "T": "x",
                    "S": "AMD",
                    "i": 12,
                    "x": "V",
                    "p": 102.0,
                    "s": 100,
                    "a": "C",
                    "t": iso(T0_MS + 1300),
                    "z": "C",
                },
            ]
        ),  # fmt: skip
        json.dumps(
            [
                {
                    "T": "s",
                    "S": "SPY",
                    "sc": "H",
                    "sm": "Trading Halt",
                    "rc": "T12",
                    "rm": "",
                    "t": iso(T0_MS + 1400),
                    "z": "C",
                },
                {"T": "s", "S": "SPY", "sc": "T", "sm": "Resume", "rc": "", "rm": "", "t": iso(T0_MS + 1500), "z": "C"},
                {"T": "l", "S": "SPY", "u": 110.0, "d": 90.0, "i": "B", "t": iso(T0_MS + 1500), "z": "C"},
            ]
        ),  # fmt: skip
        json.dumps([{"T": "error", "code": 407, "msg": "slow client"}]),
        "DROP",
    ]
    later = [json.dumps([a_trade(s, 5000 + j, T0_MS + 60_000 + j) for j, s in enumerate(syms)]), "HOLD"]
    server = Vendor(
        hello=json.dumps([{"T": "success", "msg": "connected"}]),
        ok=json.dumps([{"T": "success", "msg": "authenticated"}]),
        bad=json.dumps([{"T": "error", "code": 402, "msg": "auth failed"}]),
        subscribed=json.dumps([{"T": "subscription", "trades": ["*"], "quotes": ["*"], "statuses": ["*"]}]),
        sessions=[first + odd, later],
        key="key-id-7d2f",
    )
    prefix, batcher, dead = setup(kafka_bootstrap)
    creds = {"APCA_API_KEY_ID": "key-id-7d2f", "APCA_API_SECRET_KEY": "secret-91ab"}
    alerts: list[str] = []
    want = 10 * len(syms) + 1 + 2 + len(syms)  # trades, the quote, halt + resume, the trades after the reconnect
    adapter = asyncio.run(run_adapter(Alpaca(), server, creds, batcher, dead, lambda a: a.stats.ticks >= want, alerts))

    trades = ticks_on(kafka_bootstrap, f"{prefix}.trades", "trades")
    assert sorted(trades.column("seq").to_pylist()) == sorted(
        [10 * k + j for k in range(10) for j in range(len(syms))] + [5000 + j for j in range(len(syms))]
    )
    quotes = ticks_on(kafka_bootstrap, f"{prefix}.quotes", "quotes")
    assert quotes.column("symbol").to_pylist() == ["AMD"] and quotes.column("bid").to_pylist() == [87.66]
    status = ticks_on(kafka_bootstrap, f"{prefix}.status", "status")
    assert status.column("halted").to_pylist() == [True, False] and set(status.column("symbol").to_pylist()) == {"SPY"}

    letters = [json.loads(m.value) for m in read_now(kafka_bootstrap, f"{prefix}.dlq")]
    reasons = sorted(d["reason"] for d in letters)
    assert len(reasons) == 4, reasons
    assert reasons[0].startswith("cancel of trade 12") and reasons[1].startswith("correction of trade 11")
    assert reasons[2].startswith("malformed frame") and reasons[3].startswith("sale condition Z (sold out of sequence)")

    # the slow-client error alerted; the drop reconnected, re-authenticated and resubscribed; the gap was said
    assert any("too slow" in a for a in alerts), alerts
    assert [[m["action"] for m in conn] for conn in server.received] == [["auth", "subscribe"], ["auth", "subscribe"]]
    (gap,) = adapter.stats.gaps
    assert gap[1] == (T0_MS + 60_000) * 1_000_000 and gap[0] == (T0_MS + 100 * 9 + 5) * 1_000_000
    assert any("gap in the feed" in a for a in alerts)
    shown = " ".join(alerts) + caplog.text
    assert "secret-91ab" not in shown and "key-id-7d2f" not in shown


def test_polygon_burst_halts_and_a_dropped_connection(kafka_bootstrap):
    syms = [f"S{i:03d}" for i in range(50)]
    burst = [
        json.dumps(
            [
                {
                    "ev": "T",
                    "sym": s,
                    "x": 4,
                    "i": "1",
                    "z": 3,
                    "p": 10.0 + k % 5,
                    "s": 100,
                    "c": [0, 37],
                    "t": T0_MS + k,
                    "q": k * 100 + j,
                }
                for j, s in enumerate(syms)
            ]
        )  # fmt: skip
        for k in range(300)
    ]  # 15,000 trades as fast as the server can send them: the adapter must read them all, never block on Kafka
    luld = json.dumps([{"ev": "LULD", "T": "S001", "h": 11.0, "l": 9.0, "i": [17], "z": 3, "t": T0_MS + 400, "q": 1},
                       {"ev": "LULD", "T": "S001", "h": 11.0, "l": 9.0, "i": [18], "z": 3, "t": T0_MS + 900, "q": 2},
                       {"ev": "LULD", "T": "S002", "h": 11.0, "l": 9.0, "i": [5], "z": 3, "t": T0_MS + 900, "q": 3},
                       {"ev": "T", "sym": "S003", "x": 4, "i": "1", "z": 3, "p": 10.0, "s": 100, "c": [12],
                        "t": T0_MS + 950, "q": 10**9}])  # fmt: skip
    after = json.dumps([{"ev": "Q", "sym": "S004", "bx": 4, "bp": 9.9, "bs": 100, "ax": 7, "ap": 10.1, "as": 200,
                         "c": 0, "t": T0_MS + 5000, "q": 7}])  # fmt: skip
    server = Vendor(
        hello=json.dumps([{"ev": "status", "status": "connected", "message": "Connected Successfully"}]),
        ok=json.dumps([{"ev": "status", "status": "auth_success", "message": "authenticated"}]),
        bad=json.dumps([{"ev": "status", "status": "auth_failed", "message": "authentication failed"}]),
        subscribed=json.dumps([{"ev": "status", "status": "success", "message": "subscribed to: T.*"}]),
        sessions=[[*burst, luld, "DROP"], [after, "HOLD"]],
        key="pk-55e1",
    )
    prefix, batcher, dead = setup(kafka_bootstrap)
    alerts: list[str] = []
    want = 300 * len(syms) + 2 + 1
    adapter = asyncio.run(
        run_adapter(
            Polygon(), server, {"POLYGON_API_KEY": "pk-55e1"}, batcher, dead, lambda a: a.stats.ticks >= want, alerts
        )  # fmt: skip
    )
    trades = ticks_on(kafka_bootstrap, f"{prefix}.trades", "trades")
    assert trades.num_rows == 300 * len(syms) and len(set(trades.column("seq").to_pylist())) == trades.num_rows
    assert ticks_on(kafka_bootstrap, f"{prefix}.quotes", "quotes").column("symbol").to_pylist() == ["S004"]
    status = ticks_on(kafka_bootstrap, f"{prefix}.status", "status")
    assert status.column("halted").to_pylist() == [True, False]
    (letter,) = [json.loads(m.value) for m in read_now(kafka_bootstrap, f"{prefix}.dlq")]
    assert letter["reason"].startswith("sale condition 12 (Form T)") and letter["tick"]["q"] == 10**9
    assert server.received[1] == server.received[0]  # the same auth and subscription again
    assert server.received[0][1]["params"] == "T.*,Q.*,LULD.*"
    assert adapter.stats.connects == 2 and len(adapter.stats.gaps) == 1


def test_a_refused_key_stops_the_adapter_and_is_never_shown(kafka_bootstrap, tmp_path):
    server = Vendor(
        hello=json.dumps([{"ev": "status", "status": "connected", "message": "Connected Successfully"}]),
        ok="", bad=json.dumps([{"ev": "status", "status": "auth_failed", "message": "authentication failed"}]),
        subscribed="", sessions=[[]], key="the-right-key",
    )  # fmt: skip
    prefix, batcher, dead = setup(kafka_bootstrap)
    with pytest.raises(FeedAuthError, match="authentication failed"):
        asyncio.run(
            run_adapter(Polygon(), server, {"POLYGON_API_KEY": "wrong-9f3"}, batcher, dead, lambda a: False, [])
        )
    assert len(server.received) == 1, "an auth failure must not be retried"

    async def cli() -> subprocess.CompletedProcess:
        async with serve(server.handler, "127.0.0.1", 0) as srv:
            port = srv.sockets[0].getsockname()[1]
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tickwise.cli", "feed", "polygon", "--symbols", "all", "--kafka",
                kafka_bootstrap, "--url", f"ws://127.0.0.1:{port}", "--topic-prefix", prefix.removesuffix("ticks"),
                env={"POLYGON_API_KEY": "wrong-9f3", "PATH": "/usr/bin:/bin", "COLUMNS": "300"}, cwd=ROOT,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            out, _ = await asyncio.wait_for(proc.communicate(), 60)
            return subprocess.CompletedProcess([], proc.returncode or 0, out.decode())

    done = asyncio.run(cli())
    assert done.returncode != 0 and "refused the keys" in done.stdout, done.stdout
    assert "wrong-9f3" not in done.stdout

    missing = subprocess.run(
        [sys.executable, "-m", "tickwise.cli", "feed", "alpaca", "--symbols", "all"],
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "300"}, cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert missing.returncode != 0 and "APCA_API_KEY_ID and APCA_API_SECRET_KEY" in missing.stdout + missing.stderr
