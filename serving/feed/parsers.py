"""Vendor websocket messages -> the tick schema (a real feed adapter is this plus a socket).

Polygon (stocks cluster): ``{"ev": "T", "sym", "x", "i", "z", "p", "s", "c", "t": Unix ms, "q": sequence}`` and
``{"ev": "Q", "sym", "bx", "bp", "bs", "ax", "ap", "as", "t", "q"}``. Alpaca market data v2: a JSON array of
``{"T": "t", "S", "i", "x", "p", "s", "t": RFC 3339, "c", "z"}`` and ``{"T": "q", "S", "bx", "bp", "bs", "ax",
"ap", "as", "t", "c", "z"}``. Quote sizes are passed through ``size_scale`` (round lots -> shares when the
feed reports lots). Control messages (status, subscriptions) return nothing; anything unparseable raises
:class:`~serving.feed.tick_codec.BadTick` for the dead-letter queue.
"""

import datetime as dt
import json
from typing import Any

from serving.feed.tick_codec import BadTick


def _rfc3339_ns(s: str) -> int:
    """``2021-02-22T15:51:44.208123456Z`` -> epoch ns (Python's parser stops at microseconds)."""
    try:
        base, _, frac = s.rstrip("Z").partition(".")
        secs = dt.datetime.fromisoformat(base).replace(tzinfo=dt.UTC).timestamp()
        return int(secs) * 1_000_000_000 + int((frac + "000000000")[:9] if frac else 0)
    except ValueError as e:
        raise BadTick(f"bad timestamp {s!r}: {e}") from None


def _num(m: dict, k: str) -> Any:
    if k not in m:
        raise BadTick(f"missing field {k!r}")
    return m[k]


def parse_polygon(raw: bytes | str, size_scale: float = 1.0) -> list[tuple[str, dict]]:
    """``[(kind, tick)]`` for a Polygon websocket frame (a JSON array of events)."""
    try:
        events = json.loads(raw)
    except json.JSONDecodeError as e:
        raise BadTick(f"malformed payload: {e}") from None
    out = []
    for ev in events if isinstance(events, list) else [events]:
        kind = ev.get("ev")
        if kind == "T":
            out.append(
                (
                    "trades",
                    {
                        "symbol": _num(ev, "sym"),
                        "ts": int(_num(ev, "t")) * 1_000_000,
                        "price": float(_num(ev, "p")),
                        "size": float(_num(ev, "s")),
                        "seq": int(ev.get("q") or int(ev.get("i", 0))),
                    },
                )
            )
        elif kind == "Q":
            out.append(
                (
                    "quotes",
                    {
                        "symbol": _num(ev, "sym"),
                        "ts": int(_num(ev, "t")) * 1_000_000,
                        "bid": float(_num(ev, "bp")),
                        "ask": float(_num(ev, "ap")),
                        "bid_size": float(_num(ev, "bs")) * size_scale,
                        "ask_size": float(_num(ev, "as")) * size_scale,
                        "seq": int(_num(ev, "q")),
                    },
                )
            )
    return out


def parse_alpaca(raw: bytes | str, size_scale: float = 1.0) -> list[tuple[str, dict]]:
    """``[(kind, tick)]`` for an Alpaca v2 stream frame. Quotes carry no sequence number: the event time in ns
    stands in for it (two quotes of one symbol in the same nanosecond are duplicates either way)."""
    try:
        msgs = json.loads(raw)
    except json.JSONDecodeError as e:
        raise BadTick(f"malformed payload: {e}") from None
    out = []
    for m in msgs if isinstance(msgs, list) else [msgs]:
        kind = m.get("T")
        if kind == "t":
            out.append(
                (
                    "trades",
                    {
                        "symbol": _num(m, "S"),
                        "ts": _rfc3339_ns(_num(m, "t")),
                        "price": float(_num(m, "p")),
                        "size": float(_num(m, "s")),
                        "seq": int(_num(m, "i")),
                    },
                )
            )
        elif kind == "q":
            ts = _rfc3339_ns(_num(m, "t"))
            out.append(
                (
                    "quotes",
                    {
                        "symbol": _num(m, "S"),
                        "ts": ts,
                        "bid": float(_num(m, "bp")),
                        "ask": float(_num(m, "ap")),
                        "bid_size": float(_num(m, "bs")) * size_scale,
                        "ask_size": float(_num(m, "as")) * size_scale,
                        "seq": ts,
                    },
                )
            )
    return out
