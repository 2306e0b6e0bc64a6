"""A whole session through the live path, with faults: the signals must equal an uninterrupted run's, each minute once.

    .venv/bin/python scripts/session_with_faults.py --symbols 5000 --speed 1 --json out/faults.json

A simulated day goes through a Kafka broker and a Redis server of the scenario's own (`scripts/local_servers.py`):
`tickwise stream publish` feeds the ticks at ``speed`` x real time, `tickwise serve --mode kafka` scores them with
its Redis online store and checkpoint, each in its own process. While it runs:

1. Redis is stopped for 30 s (then started again, empty, as a Redis without persistence comes back);
2. the scorer is killed with SIGKILL at a random minute and started again;
3. the broker is restarted (its data kept).

Afterwards the signals topic must hold every minute the uninterrupted in-process replay of the same day serves
(the last ones aside: no later tick closes them), each once, with the same values; and after each fault the minutes'
delay (a minute's last tick produced -> its signal appended, wall time, the 2 s lateness included) must be back
under ``healthy_s`` within a minute. The allowed lateness is wall time; a replay faster than real time gets it
scaled by the speed (2 s x speed of event time). CI runs it small and fast (`tests/integration/test_session_faults.py`); this script runs it at scale.
"""

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from features.engine import FeatureEngine  # noqa: E402
from marketdata.lake import Lake  # noqa: E402
from marketdata.pipeline import simulate_to_lake  # noqa: E402
from marketdata.schemas import NS_PER_MIN  # noqa: E402
from marketdata.simulator import SimConfig  # noqa: E402
from scripts.local_servers import KafkaBroker, RedisServer, env_for  # noqa: E402
from serving.app.replay import replay_day  # noqa: E402
from serving.feed import tick_codec  # noqa: E402
from serving.io import kafka_io  # noqa: E402
from serving.io.sinks import from_ipc  # noqa: E402
from serving.step.scorer import Scorer  # noqa: E402

TICKWISE = str(ROOT / ".venv" / "bin" / "tickwise")


def reference(lake: Lake, day) -> pa.Table:  # type: ignore[no-untyped-def]
    """The uninterrupted in-process replay's signals (a cold engine, no champion: the momentum fallback)."""
    scorer = Scorer(FeatureEngine(lake.read("reference"), lake.read("corporate_actions")))
    cycles = [c for c in replay_day(scorer, lake, day) if c.symbols]
    return pa.concat_tables([c.signals() for c in cycles]).sort_by([("ts", "ascending"), ("symbol", "ascending")])


class Scenario:
    def __init__(self, work: Path, symbols: int, speed: float, seed: int, log) -> None:  # type: ignore[no-untyped-def]
        self.work, self.speed, self.log = work, speed, log
        self.lake = Lake(str(work / "lake"))
        simulate_to_lake(SimConfig(symbols=symbols, days=1, seed=seed), self.lake, ticks=True)
        self.day = self.lake.dates("trades")[0]
        self.rng = np.random.default_rng(seed)
        self.prefix = f"f{uuid.uuid4().hex[:6]}."
        self.group = f"faults-{uuid.uuid4().hex[:6]}"
        self.broker = KafkaBroker(work / "kafka")
        self.redis = RedisServer()
        self.events: list[dict] = []
        self.scorer: subprocess.Popen | None = None

    def env(self) -> dict[str, str]:
        return env_for(
            TICKWISE_TOPIC_PREFIX=self.prefix, TICKWISE_GROUP=self.group, TICKWISE_KAFKA_BOOTSTRAP=self.broker.bootstrap,
            TICKWISE_REDIS_URL=self.redis.url, TICKWISE_MLFLOW_TRACKING_URI=f"sqlite:///{self.work}/mlflow.db",
            TICKWISE_SHADOW_FLUSH_MINUTES="0", TICKWISE_ALERT_WEBHOOK_URL="",
            # the allowed lateness is wall time: a replay at speed x compresses it x times, so it is scaled back
            TICKWISE_LATENESS_MS=str(int(2000 * self.speed)),
        )  # fmt: skip

    def start_scorer(self) -> None:
        out = open(self.work / "serve.log", "ab")  # noqa: SIM115 - the child owns it
        cmd = [TICKWISE, "-v", "serve", "--mode", "kafka", "--lake", self.lake.root, "--date", str(self.day),
               "--http-port", "0", "--idle-exit", "25"]  # fmt: skip
        self.scorer = subprocess.Popen(cmd, env=self.env(), stdout=out, stderr=out)

    def mark(self, what: str) -> None:
        self.events.append({"event": what, "at": time.time()})
        self.log(f"[{time.strftime('%H:%M:%S')}] {what}")

    def run(self, healthy_s: float) -> dict:
        self.broker.start()
        self.redis.start()
        topics = [f"{self.prefix}ticks.{k}" for k in ("trades", "quotes", "status")]
        kafka_io.ensure_topics(self.broker.bootstrap, topics)
        kafka_io.ensure_topics(
            self.broker.bootstrap, [f"{self.prefix}signals"], configs={"message.timestamp.type": "LogAppendTime"}
        )
        self.start_scorer()
        time.sleep(8)  # the scorer joins its group before the ticks flow, as a running one would
        length = 390 * 60 / self.speed
        pub = subprocess.Popen([TICKWISE, "stream", "publish", "--lake", self.lake.root, "--date", str(self.day),
                                "--speed", str(self.speed)], env=self.env(), stdout=subprocess.DEVNULL)  # fmt: skip
        self.mark("publishing")
        t0 = time.monotonic()
        faults = threading.Thread(target=self._faults, args=(t0, length), daemon=True)
        faults.start()
        pub.wait()
        self.mark("published")
        faults.join()
        assert self.scorer is not None
        try:
            self.scorer.wait(180)
        except subprocess.TimeoutExpired:
            self.scorer.kill()
        return self.check(healthy_s)

    def _faults(self, t0: float, length: float) -> None:
        def at(frac: float) -> None:
            time.sleep(max(0.0, t0 + frac * length - time.monotonic()))

        at(0.15)
        self.redis.stop()
        self.mark("redis stopped")
        time.sleep(30)
        self.redis.start()
        self.mark("redis back (empty)")
        at(float(self.rng.uniform(0.38, 0.45)))
        assert self.scorer is not None
        self.scorer.send_signal(signal.SIGKILL)
        self.scorer.wait()
        self.mark("scorer killed (SIGKILL)")
        time.sleep(2)
        self.start_scorer()
        self.mark("scorer started again")
        at(0.6)  # early enough that minutes follow it even when the broker takes half a minute to stop
        self.mark("broker restarting")
        self.broker.restart()
        self.mark("broker back")

    def check(self, healthy_s: float) -> dict:
        ref = reference(self.lake, self.day)
        c = kafka_io.consumer(self.broker.bootstrap, f"{self.prefix}signals", group=None, consumer_timeout_ms=8000)
        msgs = list(c)
        c.close()
        keys = [int(m.key) for m in msgs]
        served = pa.concat_tables([from_ipc(m.value) for m in msgs]).sort_by(
            [("ts", "ascending"), ("symbol", "ascending")]
        )
        # the last minutes close only when a later tick moves the watermark past them (plus the lateness): none does
        lateness_ns = int(2000 * self.speed) * 1_000_000
        last = int(ref.column("ts").cast(pa.int64()).to_numpy().max()) - (lateness_ns // NS_PER_MIN) * NS_PER_MIN
        want = ref.filter(pa.compute.less(ref.column("ts").cast(pa.int64()), last))
        got = served.filter(pa.compute.less(served.column("ts").cast(pa.int64()), last))
        delays = self._delays(msgs)
        wm, gm = want.column("ts").cast(pa.int64()).to_numpy(), got.column("ts").cast(pa.int64()).to_numpy()
        differ = sorted({int(t) for t in np.unique(wm)} - {int(t) for t in np.unique(gm)})
        if got.num_rows == want.num_rows:
            same_key = (wm == gm) & (
                np.array(got.column("symbol").to_pylist()) == np.array(want.column("symbol").to_pylist())
            )
            close = same_key & (got.column("p_up").to_numpy() == want.column("p_up").to_numpy())
            differ += sorted({int(t) for t in wm[~close]})
        recovery = {}
        for e in self.events:
            if e["event"] in ("redis back (empty)", "scorer started again", "broker back"):
                after = [(t, d) for t, d in delays if t >= e["at"]]
                ok = next((t for t, d in after if d <= healthy_s), None)
                recovery[e["event"]] = None if ok is None else ok - e["at"]
        return {
            "minutes_expected": len(set(want.column("ts").cast(pa.int64()).to_pylist())),
            "minutes_published": len(keys),
            "minutes_twice": len(keys) - len(set(keys)),
            "signals_equal": got.select(["symbol", "ts", "p_up"]).equals(want.select(["symbol", "ts", "p_up"])),
            "recovery_s": recovery,
            "minutes_differing": [str(np.datetime64(t, "ns")) for t in differ[:20]],
            "dead_letters": self._count(f"{self.prefix}ticks.dlq"),
            "delay_p50_s": float(np.median([d for _, d in delays])) if delays else None,
            "events": self.events,
        }

    def _count(self, topic: str) -> int:
        c = kafka_io.consumer(self.broker.bootstrap, topic, group=None, consumer_timeout_ms=4000)
        n = sum(1 for _ in c)
        c.close()
        return n

    def _delays(self, signals: list) -> list[tuple[float, float]]:
        """Per minute: (the signal's append time, its delay after the minute's last tick was produced), seconds."""
        last: dict[int, int] = {}
        for kind in ("trades", "quotes"):
            c = kafka_io.consumer(
                self.broker.bootstrap, f"{self.prefix}ticks.{kind}", group=None, consumer_timeout_ms=8000
            )
            for m in c:
                ts = tick_codec.read(kind, m.value).column("ts").to_numpy()
                for end in np.unique((ts // NS_PER_MIN + 1) * NS_PER_MIN):
                    last[int(end)] = max(last.get(int(end), 0), m.timestamp)
            c.close()
        return sorted(
            (s.timestamp / 1e3, (s.timestamp - last[int(s.key)]) / 1e3) for s in signals if int(s.key) in last
        )

    def close(self) -> None:
        if self.scorer is not None and self.scorer.poll() is None:
            self.scorer.kill()
        self.broker.stop(kill=True)
        self.redis.stop()


def run(symbols: int, speed: float, seed: int = 7, healthy_s: float = 4.0, log=print) -> dict:  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory() as tmp:
        s = Scenario(Path(tmp), symbols, speed, seed, log)
        try:
            return s.run(healthy_s)
        finally:
            s.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--symbols", type=int, default=5000)
    p.add_argument("--speed", type=float, default=1.0, help="times real time (a session is 390 minutes)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--json", default=None)
    a = p.parse_args()
    res = run(a.symbols, a.speed, a.seed)
    print(json.dumps({k: v for k, v in res.items() if k != "events"}, indent=1))
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(res, indent=1))
    ok = (
        res["signals_equal"]
        and res["minutes_twice"] == 0
        and all(v is not None and v < 60 for v in res["recovery_s"].values())
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
