"""A small HTTP API: /signals, /signals/{symbol}, /health and Prometheus /metrics (per-stage latency)."""

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from serving.io.outputs import LatestSignals
from serving.step.scorer import STAGES, CycleResult

BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 50, 75, 100, 250, 1000)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.stage = Histogram(
            "tickwise_cycle_stage_ms",
            "Per-stage cycle latency (ms)",
            ["stage"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.total = Histogram("tickwise_cycle_ms", "Whole cycle latency (ms)", buckets=BUCKETS, registry=self.registry)
        self.signals = Counter("tickwise_signals_total", "Signals served", ["source"], registry=self.registry)
        self.runtime = Counter(
            "tickwise_cycles_by_runtime_total", "Cycles by what computed p_up (blockwalk, forest, lleaves, lightgbm, fallback, "
            "breaker)", ["runtime"], registry=self.registry,
        )  # fmt: skip

    def observe(self, c: CycleResult) -> None:
        for s in STAGES:
            self.stage.labels(s).observe(c.timings_ms.get(s, 0.0))
        self.total.observe(sum(c.timings_ms.get(s, 0.0) for s in STAGES))
        self.signals.labels(c.source).inc(len(c.symbols))
        if c.symbols:
            self.runtime.labels(c.runtime or c.source).inc()


def serve_http(
    health: Callable[[], dict], latest: LatestSignals, metrics: Metrics, host: str = "127.0.0.1", port: int = 8765
) -> ThreadingHTTPServer:
    """Start the API in a daemon thread; returns the server (``.shutdown()`` to stop). ``health()`` gives the
    ``/health`` body; ``latest`` the signals ``/signals`` shows."""

    class Handler(BaseHTTPRequestHandler):
        def _json(self, code: int, obj: object) -> None:
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            path = self.path.rstrip("/")
            if path == "/health":
                self._json(200, health())
            elif path == "/metrics":
                body = generate_latest(metrics.registry)
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE_LATEST)
                self.end_headers()
                self.wfile.write(body)
            elif path == "/signals":
                self._json(200, {s: {"ts": t, "p_up": p, "source": src} for s, (t, p, src) in latest.items()})
            elif path.startswith("/signals/"):
                sym = path.split("/", 2)[2]
                hit = latest.get(sym)
                if hit is not None:
                    t, p, src = hit
                    self._json(200, {"symbol": sym, "ts": t, "p_up": p, "source": src})
                else:
                    self._json(404, {"error": f"no signal for {sym!r}"})
            else:
                self._json(
                    404, {"error": "unknown path", "paths": ["/signals", "/signals/{symbol}", "/health", "/metrics"]}
                )

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
