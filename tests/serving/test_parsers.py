"""Vendor messages, as their documentation shows them, become contract ticks."""

import datetime as dt
import json

import pytest

from serving.feed import tick_codec
from serving.feed.parsers import parse_alpaca, parse_polygon
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
            "c": [0, 12],
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
    (k1, t), (k2, q) = parse_polygon(POLYGON, size_scale=1)
    assert (k1, k2) == ("trades", "quotes")
    assert t == roundtrip("trades", t)
    assert t["ts"] == 1536036818784 * 10**6 and t["price"] == 114.125 and t["seq"] == 3681328
    assert q["bid"] == 114.125 and q["ask_size"] == 160.0
    assert dt.datetime.fromtimestamp(t["ts"] / 1e9, dt.UTC).year == 2018


def test_alpaca_trade_and_quote_keep_nanoseconds():
    (k1, t), (k2, q) = parse_alpaca(ALPACA, size_scale=100)
    assert t == roundtrip("trades", t) and q == roundtrip("quotes", q)
    assert t["ts"] == int(dt.datetime(2021, 2, 22, 15, 51, 44, tzinfo=dt.UTC).timestamp()) * 10**9 + 208_000_000
    assert q["ts"] % 10**9 == 335567723 and q["bid_size"] == 100.0


@pytest.mark.parametrize(
    "bad",
    [
        b"{oops",
        json.dumps([{"T": "t", "S": "A", "p": 1.0}]),
        json.dumps([{"T": "q", "S": "A", "bp": 1, "ap": 2, "bs": 1, "as": 1, "t": "nope"}]),
    ],
)
def test_bad_vendor_messages_raise_for_the_dlq(bad):
    with pytest.raises(BadTick):
        parse_alpaca(bad)
