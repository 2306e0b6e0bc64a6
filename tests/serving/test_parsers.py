"""Vendor messages, as their documentation shows them, become contract ticks."""

import datetime as dt
import json

import pytest

from serving.feed import tick_codec
from serving.feed.parsers import Alpaca, Polygon
from serving.feed.tick_codec import BadTick

POLYGON = json.dumps(
    [
        {
            "ev": "T",
            "sym": "MSFT",
            "x": 4,
            "i": "12345",
            "z": 3,
            "p": 114.125,
            "s": 100,
            "c": [0, 37],
            "t": 1536036818784,
            "q": 3681328,
        },
        {
            "ev": "Q",
            "sym": "MSFT",
            "bx": 4,
            "bp": 114.125,
            "bs": 100,
            "ax": 7,
            "ap": 114.128,
            "as": 160,
            "c": 0,
            "t": 1536036818784,
            "q": 50385480,
            "z": 3,
        },
        {"ev": "status", "status": "success", "message": "authenticated"},
    ]
)
ALPACA = json.dumps(
    [
        {
            "T": "t",
            "S": "AAPL",
            "i": 52983525029461,
            "x": "V",
            "p": 142.95,
            "s": 2,
            "t": "2021-02-22T15:51:44.208Z",
            "c": ["@", "I"],
            "z": "C",
        },
        {
            "T": "q",
            "S": "AMD",
            "bx": "U",
            "bp": 87.66,
            "bs": 1,
            "ax": "X",
            "ap": 87.67,
            "as": 1,
            "t": "2021-02-22T15:51:45.335567723Z",
            "c": ["R"],
            "z": "C",
        },
        {"T": "success", "msg": "authenticated"},
    ]
)


def roundtrip(kind, tick):
    """The parsed tick is what the Kafka payload carries: encode and decode it through the codec."""
    import pyarrow as pa

    d = tick_codec.decode(kind, tick_codec.encode(kind, pa.Table.from_pylist([tick], schema=tick_codec.WIRE[kind])))
    assert d.ok.all()
    got = d.tick(0)
    got.pop("correction", None)
    return got


def test_polygon_trade_and_quote():
    got = Polygon(size_scale=1).parse(POLYGON)
    (k1, t), (k2, q) = got.ticks
    assert (k1, k2) == ("trades", "quotes") and got.control == [("subscribed", "success: authenticated")]
    assert t == roundtrip("trades", t)
    assert t["ts"] == 1536036818784 * 10**6 and t["price"] == 114.125 and t["seq"] == 3681328
    assert q["bid"] == 114.125 and q["ask_size"] == 160.0
    assert dt.datetime.fromtimestamp(t["ts"] / 1e9, dt.UTC).year == 2018


def test_alpaca_trade_and_quote_keep_nanoseconds():
    got = Alpaca(size_scale=100).parse(ALPACA)
    (k1, t), (k2, q) = got.ticks
    assert t == roundtrip("trades", t) and q == roundtrip("quotes", q)
    assert t["ts"] == int(dt.datetime(2021, 2, 22, 15, 51, 44, tzinfo=dt.UTC).timestamp()) * 10**9 + 208_000_000
    assert q["ts"] % 10**9 == 335567723 and q["bid_size"] == 100.0
    assert got.control == [("authenticated", "authenticated")]


def test_a_frame_that_is_not_json_is_refused_whole():
    with pytest.raises(BadTick, match="malformed frame"):
        Alpaca().parse(b"{oops")


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"T": "t", "S": "A", "p": 1.0}, "missing field 't'"),
        ({"T": "q", "S": "A", "bp": 1, "ap": 2, "bs": 1, "as": 1, "t": "nope"}, "bad timestamp 'nope'"),
        ({"T": "t", "S": "A", "i": 1, "p": "x", "s": 1, "t": "2021-02-22T15:51:44Z"}, "malformed event"),
        (
            {"T": "t", "S": "A", "i": 1, "p": 1, "s": 1, "t": "2021-02-22T15:51:44Z", "c": ["@", "W"]},
            "sale condition W (average price trade)",
        ),  # fmt: skip
        ({"T": "b", "S": "A"}, "unknown message type 'b'"),
        ([1, 2], "an event that is not an object"),
    ],
)
def test_a_bad_or_excluded_event_is_refused_alone_with_its_reason(event, reason):
    good = {"T": "t", "S": "B", "i": 2, "p": 1, "s": 1, "t": "2021-02-22T15:51:44Z"}
    got = Alpaca().parse(json.dumps([event, good]))
    assert [k for k, _ in got.ticks] == ["trades"] and got.ticks[0][1]["symbol"] == "B"
    ((index, why, _),) = got.refused
    assert index == 0 and why.startswith(reason), why
