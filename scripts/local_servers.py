"""A Kafka broker and a Redis server of a scenario's own, to stop, kill and restart without touching the shared ones
`make services` runs. The broker is the same genuine Apache Kafka (the jars `infra/services.sh` fetched into
`infra/kafka/lib`), single-node KRaft on loopback; a restart keeps its data, as a broker restart in production does.
"""

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "infra" / "kafka" / "lib"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(port: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


class RedisServer:
    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is not installed (infra/services.sh installs it)")
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        if not _answers(self.port, 10):
            raise RuntimeError(f"redis-server did not answer on {self.port}")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class KafkaBroker:
    def __init__(self, root: Path, port: int | None = None):
        self.root, self.port = Path(root), port or free_port()
        self.ctrl = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _java(self, *args: str, **kw) -> subprocess.Popen:  # type: ignore[no-untyped-def]
        cmd = ["java", "-Xms128m", "-Xmx512m", f"-Dlog4j2.configurationFile={ROOT / 'infra/kafka/log4j2.yaml'}",
               "-cp", f"{LIB}/*", *args]  # fmt: skip
        return subprocess.Popen(cmd, **kw)

    def format(self) -> None:
        if not (LIB / ".complete").exists():
            raise RuntimeError(f"no Kafka jars in {LIB}: run `make services` (infra/services.sh fetches them)")
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "server.properties").write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.bootstrap.servers=127.0.0.1:{self.ctrl}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.ctrl}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                    "inter.broker.listener.name=PLAINTEXT",
                    f"log.dirs={self.root / 'data'}",
                    "num.partitions=4",
                    "offsets.topic.replication.factor=1",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "auto.create.topics.enable=true",
                    "offsets.topic.num.partitions=4",
                ]
            )  # fmt: skip
        )
        args = ["kafka.tools.StorageTool", "format", "--standalone", "-t", uuid.uuid4().hex[:22], "-c"]
        fmt = self._java(*args, str(self.root / "server.properties"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if fmt.wait(120) != 0:
            raise RuntimeError(f"kafka storage format failed: {fmt.stdout.read().decode()[-2000:]}")  # type: ignore[union-attr]

    def start(self, timeout_s: float = 120) -> "KafkaBroker":
        if not (self.root / "data").exists():
            self.format()
        log = open(self.root / "server.out", "ab")  # noqa: SIM115 - the broker process owns it
        self.proc = self._java("kafka.Kafka", str(self.root / "server.properties"), stdout=log, stderr=log)
        if not _answers(self.port, timeout_s):
            raise RuntimeError(f"kafka did not answer on {self.port}; see {self.root / 'server.out'}")
        self._wait_ready(timeout_s)
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                KafkaAdminClient(bootstrap_servers=self.bootstrap, api_version=(2, 8)).close()
                return
            except KafkaError:
                time.sleep(0.5)
        raise RuntimeError(f"kafka on {self.port} did not take clients in {timeout_s} s")

    def stop(self, kill: bool = False) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(20)  # a clean shutdown that takes longer is stuck (seen here): killed, as ops would
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def restart(self) -> float:
        """Stop (cleanly) and start again on the same data; the seconds it was away."""
        t0 = time.monotonic()
        self.stop()
        self.start()
        return time.monotonic() - t0


def env_for(**kw: str) -> dict[str, str]:
    """The environment of a child `tickwise` process: this one's, plus ``kw``."""
    return {**os.environ, **kw}
