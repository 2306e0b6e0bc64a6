"""The ticks -> bars job on Apache Flink, from Python (decision 036).

The job is Java (``flink/``: the aggregator's rules in a keyed operator, the per-tick work in the JVM); this module
builds it with Maven when its sources are newer than its jar, runs it bounded over tick tables on a local
mini-cluster (:func:`bars`: how its bars are compared with :func:`marketdata.aggregate.aggregate`'s), and submits
the streaming job to a cluster (:func:`submit`). A missing ``java`` or ``mvn`` is a clear error.
"""

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from marketdata.buffers import bars_table
from marketdata.schemas import REJECTS, TS
from serving.feed.tick_codec import WIRE, halts_to_status

ROOT = Path(__file__).resolve().parents[1] / "flink"
JAR = ROOT / "target" / "tickwise-flink.jar"
LIB = ROOT / "target" / "lib"
MAIN = "tickwise.flink.BarsJob"
# Arrow's memory needs java.nio opened to it on Java 17
JVM_OPTS = ("--add-opens=java.base/java.nio=ALL-UNNAMED", f"-Dlog4j2.configurationFile={ROOT / 'log4j2.properties'}")


# the bars topic's payload (flink/.../TickCodec.java): times as int64 ns, an unknown NBBO as null
BARS_WIRE = pa.schema(
    [("symbol", pa.string()), ("ts", pa.int64())]
    + [(k, pa.float64()) for k in ("open", "high", "low", "close", "volume", "vwap")]
    + [("trades", pa.int32())]
    + [(k, pa.float64()) for k in ("bid", "ask", "bid_size", "ask_size")]
    + [("halted", pa.bool_())]
)


class FlinkError(RuntimeError):
    """The job could not be built, started or finished; the text says why (and where its log is)."""


def _sources() -> list[Path]:
    return [ROOT / "pom.xml", *sorted((ROOT / "src").rglob("*.java"))]


def build(force: bool = False) -> Path:
    """The job's jar, built with Maven (``flink/pom.xml``) unless it is newer than every source; returns its path."""
    if not force and JAR.exists() and (LIB / ".complete").exists():
        if JAR.stat().st_mtime >= max(p.stat().st_mtime for p in _sources()):
            return JAR
    mvn = shutil.which("mvn")
    if mvn is None:
        raise FlinkError("Maven (mvn) is needed to build the Flink job (flink/pom.xml); install it (apt install maven)")
    shutil.rmtree(LIB, ignore_errors=True)
    done = subprocess.run([mvn, "-q", "-B", "-f", str(ROOT / "pom.xml"), "package"], capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
        raise FlinkError(f"building the Flink job failed (mvn package in {ROOT}):\n{tail}")
    (LIB / ".complete").touch()
    return JAR


def classpath() -> str:
    """The job and Flink itself: what a local mini-cluster, a JobManager or a TaskManager runs on."""
    return f"{build()}{os.pathsep}{LIB / '*'}"


def java(*args: str, jvm: tuple[str, ...] = ()) -> list[str]:
    """A ``java`` command line on the job's classpath."""
    exe = shutil.which("java")
    if exe is None:
        raise FlinkError("Java 17 is needed to run the Flink job (java not found on PATH)")
    return [exe, *JVM_OPTS, *jvm, "-cp", classpath(), *args]


def write_ticks(path: Path, kind: str, table: pa.Table, chunk: int = 65_536) -> None:
    """``table`` (contract columns, arrival order) as one Arrow IPC stream of the tick payload's schema."""
    schema = WIRE[kind]
    cols = []
    for f in schema:
        if f.name not in table.column_names:
            cols.append(pa.nulls(table.num_rows, f.type))
            continue
        c = table.column(f.name)
        cols.append(c.cast(pa.int64()) if f.name == "ts" else c.cast(f.type))
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, schema) as w:
        w.write_table(pa.Table.from_arrays(cols, schema=schema), max_chunksize=chunk)


@dataclass
class BoundedRun:
    bars: pa.Table  # contract bars_1m
    rejects: pa.Table  # contract rejects
    seconds: float


def bars(
    trades: pa.Table,
    quotes: pa.Table | None = None,
    halts: pa.Table | None = None,
    parallelism: int = 1,
    workdir: Path | None = None,
) -> BoundedRun:
    """The Flink job bounded over these ticks (each table in arrival order), every minute closed at their end: the
    twin of :func:`marketdata.aggregate.aggregate`."""
    import time

    with tempfile.TemporaryDirectory(prefix="tickwise-flink-", dir=workdir) as tmp:
        d = Path(tmp)
        args = ["bounded", "--parallelism", str(parallelism), "--out", str(d / "out")]
        write_ticks(d / "trades.arrow", "trades", trades)
        args += ["--trades", str(d / "trades.arrow")]
        if quotes is not None:
            write_ticks(d / "quotes.arrow", "quotes", quotes)
            args += ["--quotes", str(d / "quotes.arrow")]
        if halts is not None and halts.num_rows:
            write_ticks(d / "status.arrow", "status", halts_to_status(halts))
            args += ["--status", str(d / "status.arrow")]
        t0 = time.perf_counter()
        done = subprocess.run(java(MAIN, *args), capture_output=True, text=True)
        took = time.perf_counter() - t0
        if done.returncode != 0:
            tail = "\n".join(done.stderr.splitlines()[-20:])
            raise FlinkError(f"the bounded Flink job failed (exit {done.returncode}):\n{tail}")
        with pa.ipc.open_stream(str(d / "out" / "bars.arrow")) as r:
            raw = r.read_all()
        rejects = [json.loads(line) for line in (d / "out" / "rejects.jsonl").read_text().splitlines() if line]
    return BoundedRun(to_contract_bars(raw), _rejects_table(rejects), took)


def to_contract_bars(raw: pa.Table) -> pa.Table:
    """The job's bars (wire: ``ts`` int64 ns, NBBO null when unknown) as a ``bars_1m`` table, minute by minute and
    symbols by name within a minute, as the Python aggregator orders them."""
    sym = raw.column("symbol").combine_chunks()
    enc = sym.dictionary_encode()
    names = enc.dictionary
    rank = np.empty(len(names), np.int64)
    rank[np.argsort(np.array(names.to_pylist(), dtype=object))] = np.arange(len(names))
    code = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)

    def f(name: str) -> np.ndarray:
        return raw.column(name).to_numpy(zero_copy_only=False).astype(np.float64)

    ohlc = np.column_stack([f(k) for k in ("open", "high", "low", "close", "volume", "vwap", "trades")])
    nbbo = np.column_stack([f(k) for k in ("bid", "ask", "bid_size", "ask_size")])
    end = raw.column("ts").to_numpy().astype(np.int64)
    halted = raw.column("halted").to_numpy(zero_copy_only=False).astype(bool)
    return bars_table(names, rank, code, end, ohlc.reshape(len(end), 7), halted, nbbo.reshape(len(end), 4))


def _rejects_table(rows: list[dict]) -> pa.Table:
    return pa.table(
        {
            "source": pa.array([r["source"] for r in rows], pa.string()),
            "symbol": pa.array([r["symbol"] for r in rows], pa.string()),
            "ts": pa.array([r["ts"] for r in rows], pa.int64()).cast(TS),
            "seq": pa.array([r["seq"] for r in rows], pa.int64()),
            "reason": pa.array([r["reason"] for r in rows], pa.string()),
        },
        schema=REJECTS,
    )


# ---- the streaming job on a cluster -------------------------------------------------------------------------------
@dataclass(frozen=True)
class StreamJob:
    """What the streaming job reads and writes; the defaults are the topics the scorer and the publisher use."""

    bootstrap: str
    trades_topic: str = "ticks.trades"
    quotes_topic: str = "ticks.quotes"
    status_topic: str = "ticks.status"
    bars_topic: str = "bars.1m"
    dead_letter_topic: str = "ticks.dead"
    group: str = "tickwise-flink-bars"
    lateness_ms: int = 2000
    idle_ms: int = 5000
    checkpoint_ms: int = 1000
    transactional_id: str = "tickwise-bars"

    def args(self) -> list[str]:
        out = []
        for k, v in self.__dict__.items():
            out += [f"--{k.replace('_', '-')}", str(v)]
        return out


def submit(job: StreamJob, rest: str, parallelism: int = 1, savepoint: str | None = None) -> str:
    """Deploy the streaming job on the session cluster whose REST address is ``rest`` (``http://host:port``),
    resuming from ``savepoint`` if given; returns the job id."""
    from urllib.parse import urlparse

    u = urlparse(rest)
    args = ["stream", *job.args(), "--jobmanager", f"{u.hostname}:{u.port}", "--parallelism", str(parallelism)]
    if savepoint:
        args += ["--savepoint", savepoint]
    done = subprocess.run(java(MAIN, *args), capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.splitlines()[-20:])
        raise FlinkError(f"submitting the Flink job to {rest} failed (exit {done.returncode}):\n{tail}")
    return str(json.loads(done.stdout.strip().splitlines()[-1])["job_id"])


def _rest(rest: str, path: str, method: str = "GET", body: dict | None = None) -> dict:
    import urllib.error
    import urllib.request

    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(rest.rstrip("/") + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            text = r.read().decode()
    except urllib.error.URLError as e:
        raise FlinkError(f"Flink REST {method} {path} at {rest} failed: {e}") from None
    return json.loads(text) if text else {}


def overview(rest: str) -> dict:
    """TaskManagers, slots and jobs (id, name, state) of the cluster."""
    o = _rest(rest, "/overview")
    jobs = _rest(rest, "/jobs/overview").get("jobs", [])
    return {
        "taskmanagers": o["taskmanagers"],
        "slots_total": o["slots-total"],
        "slots_available": o["slots-available"],
        "jobs": [{"id": j["jid"], "name": j["name"], "state": j["state"]} for j in jobs],
    }


def job_state(rest: str, job_id: str) -> str:
    """RUNNING, RESTARTING, FINISHED, CANCELED, FAILED..."""
    return str(_rest(rest, f"/jobs/{job_id}")["state"])


def checkpoints_completed(rest: str, job_id: str) -> int:
    return int(_rest(rest, f"/jobs/{job_id}/checkpoints")["counts"]["completed"])


def restored_checkpoint(rest: str, job_id: str) -> int | None:
    """The id of the checkpoint the job last restored its state from (after a failure), or None."""
    latest = _rest(rest, f"/jobs/{job_id}/checkpoints").get("latest") or {}
    restored = latest.get("restored")
    return int(restored["id"]) if restored else None


def wait_running(rest: str, job_id: str, timeout: float = 60.0) -> None:
    """Until every task of the job runs (a job RUNNING may still be deploying its tasks)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        j = _rest(rest, f"/jobs/{job_id}")
        if j["state"] in ("FAILED", "CANCELED", "FINISHED"):
            raise FlinkError(f"job {job_id} is {j['state']}")
        if j["state"] == "RUNNING" and all(v["status"] == "RUNNING" for v in j["vertices"]):
            return
        time.sleep(0.25)
    raise FlinkError(f"job {job_id} not running after {timeout:.0f} s")


def stop_with_savepoint(rest: str, job_id: str, directory: str, timeout: float = 60.0) -> str:
    """Stop the job, taking a savepoint into ``directory``; returns the savepoint's path."""
    import time

    trigger = _rest(rest, f"/jobs/{job_id}/stop", "POST", {"targetDirectory": directory, "drain": False})["request-id"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = _rest(rest, f"/jobs/{job_id}/savepoints/{trigger}")
        if r["status"]["id"] == "COMPLETED":
            op = r.get("operation", {})
            if "location" not in op:
                raise FlinkError(f"stop-with-savepoint of {job_id} failed: {op.get('failure-cause', op)}")
            return str(op["location"])
        time.sleep(0.25)
    raise FlinkError(f"stop-with-savepoint of {job_id} did not complete in {timeout:.0f} s")


def cancel(rest: str, job_id: str) -> None:
    _rest(rest, f"/jobs/{job_id}?mode=cancel", "PATCH")


def read_bars(bootstrap: str, topic: str, timeout_ms: int = 3000) -> tuple[pa.Table, list[dict]]:
    """Everything committed on the bars topic (``read_committed``): the bars as a ``bars_1m`` table and each
    batch's headers (minute, watermark, subtask, subtasks, bars)."""
    from serving.io import kafka_io

    c = kafka_io.consumer(
        bootstrap, topic, group=None, consumer_timeout_ms=timeout_ms, isolation_level="read_committed"
    )
    tables, meta = [], []
    try:
        for m in c:
            tables.append(pa.ipc.open_stream(m.value).read_all())
            meta.append({k: int(v) for k, v in m.headers} | {"partition": m.partition, "offset": m.offset})
    finally:
        c.close()
    raw = pa.concat_tables(tables) if tables else BARS_WIRE.empty_table()
    return to_contract_bars(raw), meta


def complete_through(meta: list[dict]) -> int | None:
    """The latest minute every subtask of the job's current parallelism has closed (each batch's headers say its
    subtask's watermark): bars stamped at or before it are all on the topic. None before every subtask reported."""
    if not meta:
        return None
    k = max(meta, key=lambda m: m["watermark"])["subtasks"]
    reached: dict[int, int] = {}
    for m in meta:
        if m["subtasks"] == k:
            reached[m["subtask"]] = max(reached.get(m["subtask"], m["watermark"]), m["watermark"])
    return min(reached.values()) if len(reached) == k else None
