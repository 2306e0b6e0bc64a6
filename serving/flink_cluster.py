"""The streaming ticks -> bars job on a Flink session cluster (decision 036): deploy it, watch it, stop it with a
savepoint, and read what it commits to the bars topic.

The job is submitted from its own jar (:func:`serving.flink.java`: a remote environment ships it); everything else
goes through the cluster's REST API. A batch on the bars topic carries its subtask's watermark, so
:func:`complete_through` says which minutes are whole.
"""

import json
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa

from serving.flink import BARS_WIRE, MAIN, FlinkError, env, java, to_contract_bars
from serving.io import kafka_io


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
    startup_idle_ms: int = 30_000  # a partition that has not delivered yet holds the others this long
    checkpoint_ms: int = 1000
    transactional_id: str = "tickwise-bars"
    # raw ticks and bars into this lake too (a local folder or s3://...), exactly once; "" = not
    lake: str = ""

    def args(self) -> list[str]:
        out = []
        for k, v in self.__dict__.items():
            if k == "lake" and v and "://" not in v:
                v = str(Path(v).resolve())  # the TaskManager's working directory is not this one
            out += [f"--{k.replace('_', '-')}", str(v)]
        return out


def submit(job: StreamJob, rest: str, parallelism: int = 1, savepoint: str | None = None) -> str:
    """Deploy the streaming job on the session cluster whose REST address is ``rest`` (``http://host:port``),
    resuming from ``savepoint`` if given; returns the job id."""
    # one partition: the scorer group's one active member owns the whole cross-section (decision 036)
    kafka_io.ensure_topics(job.bootstrap, [job.bars_topic], partitions=1)
    u = urlparse(rest)
    args = ["stream", *job.args(), "--jobmanager", f"{u.hostname}:{u.port}", "--parallelism", str(parallelism)]
    if savepoint:
        args += ["--savepoint", savepoint]
    done = subprocess.run(java(MAIN, *args), capture_output=True, text=True, timeout=120, env=env())
    if done.returncode != 0:
        tail = "\n".join(done.stderr.splitlines()[-20:])
        raise FlinkError(f"submitting the Flink job to {rest} failed (exit {done.returncode}):\n{tail}")
    return str(json.loads(done.stdout.strip().splitlines()[-1])["job_id"])


def _rest(rest: str, path: str, method: str = "GET", body: dict | None = None) -> dict:
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


def restored_checkpoint(rest: str, job_id: str) -> int | None:
    """The id of the checkpoint the job last restored its state from (after a failure), or None."""
    latest = _rest(rest, f"/jobs/{job_id}/checkpoints").get("latest") or {}
    restored = latest.get("restored")
    return int(restored["id"]) if restored else None


def wait_running(rest: str, job_id: str, timeout: float = 60.0) -> None:
    """Until every task of the job runs (a job RUNNING may still be deploying its tasks)."""
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
