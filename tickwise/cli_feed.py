"""``tickwise feed polygon|alpaca``: a vendor's live websocket onto the tick topics (:mod:`serving.io.feed_adapter`).

The keys come from the environment only (``POLYGON_API_KEY``; ``APCA_API_KEY_ID`` and ``APCA_API_SECRET_KEY``), never
from the command line, and are never logged.
"""

import asyncio
import os
import signal
import time
from pathlib import Path

import typer
from rich.console import Console

console = Console()
feed_app = typer.Typer(
    help="Live feed adapters: a vendor's websocket -> ticks.trades / ticks.quotes / ticks.status on Kafka.",
    no_args_is_help=True,
)


def read_symbols(spec: str) -> list[str] | None:
    """``all`` -> None (every symbol); else a file with one symbol per line (``#`` comments, blank lines skipped)."""
    if spec == "all":
        return None
    p = Path(spec)
    if not p.is_file():
        raise typer.BadParameter(f"{spec}: no such file (give a file of symbols, one per line, or 'all')",
                                 param_hint="--symbols")  # fmt: skip
    names = [ln.split("#")[0].strip().upper() for ln in p.read_text().splitlines()]
    names = [n for n in names if n]
    if not names:
        raise typer.BadParameter(f"{spec} lists no symbols", param_hint="--symbols")
    return names


def _run(vendor_name: str, symbols: str, kafka: str, url: str | None, prefix: str, batch_ms: float,
         size_scale: float) -> None:  # fmt: skip
    from monitoring.alerts import AlertSink
    from serving.app.alerting import LiveAlerts
    from serving.feed.parsers import VENDORS, FeedConfigError
    from serving.io import kafka_io
    from serving.io.feed_adapter import FeedAdapter, FeedAuthError, TickBatcher
    from serving.io.outputs import KafkaDeadLetters

    vendor = VENDORS[vendor_name](size_scale=size_scale)
    names = read_symbols(symbols)
    try:
        creds = vendor.credentials(os.environ)
    except FeedConfigError as e:
        raise typer.BadParameter(str(e)) from None
    kafka_io.ensure_topics(kafka, [f"{prefix}ticks.{k}" for k in ("trades", "quotes", "status")])
    batcher = TickBatcher(kafka_io.feed_producer(kafka), prefix=f"{prefix}ticks")
    dead = KafkaDeadLetters(kafka, f"{prefix}ticks.dlq")
    hook = os.environ.get("TICKWISE_ALERT_WEBHOOK_URL")  # the Dagster alerts' webhook, when set
    alert = LiveAlerts(AlertSink(hook, log=lambda _: None) if hook else None)
    adapter = FeedAdapter(vendor, creds, batcher, dead, names, url=url, alert=alert, batch_ms=batch_ms)
    console.print(f"feed {vendor.name}: {'every symbol' if names is None else f'{len(names)} symbols'} from "
                  f"{url or vendor.url} -> {prefix}ticks.* on {kafka}")  # fmt: skip

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        task = asyncio.create_task(adapter.run(stop))
        last, t0 = 0, time.monotonic()
        while not task.done():
            await asyncio.wait({task}, timeout=5.0)
            s = adapter.stats
            rate = (s.ticks - last) / max(time.monotonic() - t0, 1e-9)
            last, t0 = s.ticks, time.monotonic()
            console.print(f"{s.ticks:,} ticks ({rate:,.0f}/s), {s.refused:,} refused, {batcher.messages:,} messages, "
                          f"{s.connects} connections, {len(s.gaps)} gaps")  # fmt: skip
        task.result()

    try:
        asyncio.run(main())
    except FeedAuthError as e:
        raise typer.BadParameter(str(e)) from None
    finally:
        alert.close()


def _opts(vendor_name: str):  # type: ignore[no-untyped-def]
    def cmd(
        symbols: str = typer.Option(..., "--symbols", help="A file of symbols, one per line, or 'all'."),
        kafka: str = typer.Option(
            os.environ.get("TICKWISE_KAFKA_BOOTSTRAP", "127.0.0.1:19092"), "--kafka", help="Kafka bootstrap servers."
        ),
        url: str = typer.Option(None, "--url", help="The websocket URL (default: the vendor's real-time stream)."),
        topic_prefix: str = typer.Option(
            "", "--topic-prefix", envvar="TICKWISE_TOPIC_PREFIX", help="Prepended to the topic names, as serve reads."
        ),
        batch_ms: float = typer.Option(
            10.0, "--batch-ms", min=1.0, help="Ticks go out as one message per kind and partition this often."
        ),  # fmt: skip
        size_scale: float = typer.Option(1.0, "--size-scale", help="Quote sizes times this (100: round lots)."),
    ) -> None:
        _run(vendor_name, symbols, kafka, url, topic_prefix, batch_ms, size_scale)

    return cmd


polygon_cmd = _opts("polygon")
polygon_cmd.__doc__ = """Polygon's stocks websocket (trades, quotes, LULD halts) onto the tick topics.

Needs POLYGON_API_KEY in the environment. Reconnects with backoff and resubscribes; says when the feed had a gap;
refused events (out-of-sequence and other non-last-sale prints, malformed events) go to ticks.dlq with the reason."""
alpaca_cmd = _opts("alpaca")
alpaca_cmd.__doc__ = """Alpaca's market data v2 stream (trades, quotes, trading status) onto the tick topics.

Needs APCA_API_KEY_ID and APCA_API_SECRET_KEY in the environment. Reconnects with backoff and resubscribes; says when
the feed had a gap; corrections, cancels and non-last-sale prints go to ticks.dlq with the reason."""


def register(app: typer.Typer) -> None:
    feed_app.command("polygon")(polygon_cmd)
    feed_app.command("alpaca")(alpaca_cmd)
    app.add_typer(feed_app, name="feed")
