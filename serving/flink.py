"""The ticks -> bars job on Apache Flink, from Python (decision 036).

The job is Java (``flink/``: the aggregator's rules in a keyed operator, the per-tick work in the JVM); this module
builds it with Maven when its sources are newer than its jar and runs it bounded over tick tables on a local
mini-cluster (:func:`bars`: how its bars are compared with :func:`marketdata.aggregate.aggregate`'s). The streaming
job on a cluster is :mod:`serving.flink_cluster`. A missing ``java`` or ``mvn`` is a clear error.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from marketdata.buffers import bars_table
from marketdata.schemas import REJECTS, TS
from serving.feed.tick_codec import WIRE, halts_to_status, wire_table

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


PLUGINS = ROOT / "target" / "plugins"  # file systems Flink loads as plugins (S3)


def env() -> dict[str, str]:
    """The environment a Flink JVM of ours runs in: this one, with the plugins folder."""
    return os.environ | {"FLINK_PLUGINS_DIR": str(PLUGINS)}


def java(*args: str, jvm: tuple[str, ...] = ()) -> list[str]:
    """A ``java`` command line on the job's classpath."""
    exe = shutil.which("java")
    if exe is None:
        raise FlinkError("Java 17 is needed to run the Flink job (java not found on PATH)")
    return [exe, *JVM_OPTS, *jvm, "-cp", classpath(), *args]


def write_ticks(path: Path, kind: str, table: pa.Table, chunk: int = 65_536) -> None:
    """``table`` (contract columns, arrival order) as one Arrow IPC stream of the tick payload's schema."""
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, WIRE[kind]) as w:
        w.write_table(wire_table(kind, table), max_chunksize=chunk)


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


def read_bar_batch(blob: bytes) -> pa.Table:
    """One message of the bars topic (an Arrow IPC stream of :data:`BARS_WIRE`) as a ``bars_1m`` table."""
    return to_contract_bars(pa.ipc.open_stream(pa.py_buffer(blob)).read_all())


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
