"""Vendor websocket protocols -> the tick schema: what to send (auth, subscription) and what a frame means.

Pure: no sockets (the client is :mod:`serving.io.feed_adapter`). A frame becomes :class:`Parsed`: ticks of the
payload's kinds (``trades``, ``quotes``, ``status``: a halt begins or ends), the events refused with a reason (for
the dead-letter topic: nothing a vendor sends is dropped silently), and control events (connected, authenticated,
auth failed, subscribed, the vendor saying the client is too slow, other errors). A frame that is not JSON raises
:class:`~serving.feed.tick_codec.BadTick` and is dead-lettered whole.

* **Polygon** (stocks cluster): ``{"ev": "T", "sym", "x", "i", "z", "p", "s", "c": [condition ids], "t": Unix ms,
  "q": sequence}``, ``{"ev": "Q", "sym", "bx", "bp", "bs", "ax", "ap", "as", "t", "q"}``, ``{"ev": "LULD", "T", "h",
  "l", "i": [indicators], "t", "q"}`` (indicator 17: trading halted, 18: resumed) and ``{"ev": "status", "status",
  "message"}``.
* **Alpaca** market data v2: ``{"T": "t", "S", "i", "x", "p", "s", "t": RFC 3339, "c": [conditions], "z"}``,
  ``{"T": "q", ...}``, trading status ``{"T": "s", "S", "sc", "sm", "rc", "rm", "t"}``, corrections ``{"T": "c",
  "S", "oi", "op", "os", "ci", "cp", "cs", "t"}``, cancels and errors ``{"T": "x", "S", "i", "a": "C"|"E", "t"}``,
  LULD bands ``{"T": "l"}``, and ``success`` / ``error`` / ``subscription`` control messages.

Trade conditions are honoured: a print whose sale condition means it does not set the last sale (out of sequence,
average price, next day, prior reference price, Form T, contingent and the like, as the SIPs' processing guidelines
list them) is refused with the condition named, so it never sets a bar's open, high, low or close. A correction or a
cancel arrives after its print was sent on: it is refused with what it corrects (a bar already built is not
restated). Quote sizes go through ``size_scale`` (round lots -> shares when the feed reports lots).
"""

import datetime as dt
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from serving.feed.tick_codec import BadTick

# Polygon condition ids (its /v3/reference/conditions list) of prints that do not update the consolidated last sale
POLYGON_NOT_LAST_SALE = {
    2: "average price trade",
    5: "bunched sold trade",
    7: "cash sale",
    10: "derivatively priced",
    12: "Form T",
    13: "extended hours, sold out of sequence",
    15: "market center official close",
    16: "market center official open",
    20: "next day",
    22: "prior reference price",
    29: "seller",
    33: "sold out of sequence",
    52: "contingent trade",
    53: "qualified contingent trade",
}
# the same, as the SIPs' sale-condition codes (Alpaca passes them through)
SIP_NOT_LAST_SALE = {
    "W": "average price trade",
    "G": "bunched sold trade",
    "C": "cash sale",
    "4": "derivatively priced",
    "T": "Form T",
    "U": "extended hours, sold out of sequence",
    "M": "market center official close",
    "Q": "market center official open",
    "N": "next day",
    "P": "prior reference price",
    "R": "seller",
    "Z": "sold out of sequence",
    "V": "contingent trade",
    "7": "qualified contingent trade",
}
# trading-status codes (CTA numeric, UTP letters) that begin and end a halt; others (quotation resumption, price
# indications) change nothing here
HALT_CODES = {"H": "trading halt", "P": "volatility trading pause", "2": "trading halt"}
RESUME_CODES = {"T": "trading resumption", "3": "trading resumption"}
POLYGON_HALT, POLYGON_RESUME = 17, 18


class FeedConfigError(ValueError):
    """The adapter cannot start: the text names the setting (an environment variable, a file) to fix."""


@dataclass
class Parsed:
    ticks: list[tuple[str, dict]] = field(default_factory=list)  # (kind, tick) in frame order
    refused: list[tuple[int, str, dict]] = field(default_factory=list)  # (index in the frame, reason, event)
    control: list[tuple[str, str]] = field(default_factory=list)  # (what, the vendor's words)
    ignored: int = 0  # events with nothing for the bars (LULD bands, informational statuses)


class Vendor(ABC):
    """One vendor's websocket protocol. Keys come from the environment (:attr:`env`), never from arguments."""

    name: str
    url: str
    env: tuple[str, ...]

    def __init__(self, size_scale: float = 1.0):
        self.size_scale = size_scale

    def credentials(self, environ: Mapping[str, str]) -> dict[str, str]:
        missing = [k for k in self.env if not environ.get(k)]
        if missing:
            raise FeedConfigError(f"{self.name}: set {' and '.join(missing)} in the environment (the API keys)")
        return {k: environ[k] for k in self.env}

    @abstractmethod
    def auth(self, creds: dict[str, str]) -> str: ...

    @abstractmethod
    def subscribe(self, symbols: list[str] | None) -> str:
        """The subscription to trades, quotes and halts of ``symbols`` (None: every symbol)."""

    def parse(self, frame: str | bytes) -> Parsed:
        out = Parsed()
        for i, ev in enumerate(_events(frame)):
            try:
                if not isinstance(ev, dict):
                    raise BadTick("an event that is not an object")
                self._one(ev, out)
            except BadTick as e:
                out.refused.append((i, str(e), _plain(ev)))
            except (TypeError, ValueError, AttributeError) as e:  # a field of the wrong type
                out.refused.append((i, f"malformed event: {e}", _plain(ev)))
        return out

    @abstractmethod
    def _one(self, ev: dict, out: Parsed) -> None: ...


def _events(frame: str | bytes) -> list[Any]:
    try:
        got = json.loads(frame)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadTick(f"malformed frame: {e}") from None
    return got if isinstance(got, list) else [got]


def _field(m: dict, k: str) -> Any:
    if k not in m:
        raise BadTick(f"missing field {k!r}")
    return m[k]


def rfc3339_ns(s: str) -> int:
    """``2021-02-22T15:51:44.208123456Z`` -> epoch ns (Python's parser stops at microseconds)."""
    try:
        base, _, frac = s.rstrip("Z").partition(".")
        secs = dt.datetime.fromisoformat(base).replace(tzinfo=dt.UTC).timestamp()
        return int(secs) * 1_000_000_000 + int((frac + "000000000")[:9] if frac else 0)
    except (ValueError, AttributeError) as e:
        raise BadTick(f"bad timestamp {s!r}: {e}") from None


class Polygon(Vendor):
    name, url, env = "polygon", "wss://socket.polygon.io/stocks", ("POLYGON_API_KEY",)

    def auth(self, creds: dict[str, str]) -> str:
        return json.dumps({"action": "auth", "params": creds["POLYGON_API_KEY"]})

    def subscribe(self, symbols: list[str] | None) -> str:
        names = symbols or ["*"]
        return json.dumps(
            {"action": "subscribe", "params": ",".join(f"{c}.{s}" for c in ("T", "Q", "LULD") for s in names)}
        )

    def _one(self, ev: dict, out: Parsed) -> None:
        kind = ev.get("ev")
        if kind == "T":
            bad = [c for c in (int(x) for x in ev.get("c") or ()) if c in POLYGON_NOT_LAST_SALE]
            if bad:
                raise BadTick(f"sale condition {bad[0]} ({POLYGON_NOT_LAST_SALE[bad[0]]}): does not set the last sale")
            out.ticks.append(("trades", {
                "symbol": str(_field(ev, "sym")), "ts": int(_field(ev, "t")) * 1_000_000,
                "price": float(_field(ev, "p")), "size": float(_field(ev, "s")), "seq": int(_field(ev, "q")),
            }))  # fmt: skip
        elif kind == "Q":
            out.ticks.append(("quotes", {
                "symbol": str(_field(ev, "sym")), "ts": int(_field(ev, "t")) * 1_000_000,
                "bid": float(_field(ev, "bp")), "ask": float(_field(ev, "ap")),
                "bid_size": float(_field(ev, "bs")) * self.size_scale,
                "ask_size": float(_field(ev, "as")) * self.size_scale, "seq": int(_field(ev, "q")),
            }))  # fmt: skip
        elif kind == "LULD":
            ind = {int(x) for x in ev.get("i") or ()}
            if ind & {POLYGON_HALT, POLYGON_RESUME}:
                out.ticks.append(("status", {"symbol": str(_field(ev, "T")), "ts": int(_field(ev, "t")) * 1_000_000,
                                             "halted": POLYGON_HALT in ind}))  # fmt: skip
            else:
                out.ignored += 1  # price bands only
        elif kind == "status":
            status, msg = str(ev.get("status", "")), str(ev.get("message", ""))
            what = {"connected": "connected", "auth_success": "authenticated", "auth_failed": "auth_failed",
                    "auth_timeout": "auth_failed", "success": "subscribed"}.get(status, "error")  # fmt: skip
            out.control.append((what, f"{status}: {msg}"))
        else:
            raise BadTick(f"unknown event type {kind!r}")


class Alpaca(Vendor):
    name, url, env = "alpaca", "wss://stream.data.alpaca.markets/v2/sip", ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY")
    # the error codes of Alpaca's stream: 401 not authenticated, 402 auth failed, 404 auth timeout; 407 slow client
    AUTH_ERRORS, SLOW = {401, 402, 404}, 407

    def auth(self, creds: dict[str, str]) -> str:
        return json.dumps({"action": "auth", "key": creds["APCA_API_KEY_ID"], "secret": creds["APCA_API_SECRET_KEY"]})

    def subscribe(self, symbols: list[str] | None) -> str:
        names = symbols or ["*"]
        return json.dumps({"action": "subscribe", "trades": names, "quotes": names, "statuses": names})

    def _one(self, m: dict, out: Parsed) -> None:
        kind = m.get("T")
        if kind == "t":
            bad = [c for c in m.get("c") or () if c in SIP_NOT_LAST_SALE]
            if bad:
                raise BadTick(f"sale condition {bad[0]} ({SIP_NOT_LAST_SALE[bad[0]]}): does not set the last sale")
            out.ticks.append(("trades", {
                "symbol": str(_field(m, "S")), "ts": rfc3339_ns(_field(m, "t")), "price": float(_field(m, "p")),
                "size": float(_field(m, "s")), "seq": int(_field(m, "i")),
            }))  # fmt: skip
        elif kind == "q":
            ts = rfc3339_ns(_field(m, "t"))  # no sequence number: the event time in ns stands in for it
            out.ticks.append(("quotes", {
                "symbol": str(_field(m, "S")), "ts": ts, "bid": float(_field(m, "bp")), "ask": float(_field(m, "ap")),
                "bid_size": float(_field(m, "bs")) * self.size_scale,
                "ask_size": float(_field(m, "as")) * self.size_scale, "seq": ts,
            }))  # fmt: skip
        elif kind == "s":
            code = str(_field(m, "sc"))
            if code in HALT_CODES or code in RESUME_CODES:
                out.ticks.append(("status", {"symbol": str(_field(m, "S")), "ts": rfc3339_ns(_field(m, "t")),
                                             "halted": code in HALT_CODES}))  # fmt: skip
            else:
                out.ignored += 1
        elif kind == "c":
            raise BadTick(
                f"correction of trade {_field(m, 'oi')} ({m.get('op')} x {m.get('os')}) to trade {m.get('ci')} "
                f"({m.get('cp')} x {m.get('cs')}) by the source: a bar already built is not restated"
            )
        elif kind == "x":
            what = "cancel" if m.get("a") == "C" else "error"
            raise BadTick(f"{what} of trade {_field(m, 'i')} by the source: a bar already built is not restated")
        elif kind == "l":
            out.ignored += 1  # LULD price bands
        elif kind == "success":
            msg = str(m.get("msg", ""))
            out.control.append(("authenticated" if msg == "authenticated" else "connected", msg))
        elif kind == "subscription":
            out.control.append(("subscribed", json.dumps({k: v for k, v in m.items() if k != "T"})))
        elif kind == "error":
            code = int(m.get("code", 0))
            what = "auth_failed" if code in self.AUTH_ERRORS else "slow" if code == self.SLOW else "error"
            out.control.append((what, f"{code}: {m.get('msg', '')}"))
        else:
            raise BadTick(f"unknown message type {kind!r}")


VENDORS: dict[str, type[Vendor]] = {"polygon": Polygon, "alpaca": Alpaca}


def _plain(ev: Any) -> dict:
    return ev if isinstance(ev, dict) else {"event": repr(ev)[:200]}
