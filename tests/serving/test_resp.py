"""The compiled MSET command is byte for byte the RESP a plain Python encoder writes."""

import numpy as np

from serving.io.online_store import HEADER, pack
from serving.io.resp import KeyTable, mset


def resp_mset(keys: list[str], values: list[bytes]) -> bytes:
    """RESP as the protocol defines it: an array of bulk strings."""
    args = [b"MSET"]
    for k, v in zip(keys, values, strict=True):
        args += [k.encode(), v]
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def test_mset_matches_a_plain_encoder():
    rng = np.random.default_rng(7)
    names = ["tw:v1:f:" + "X" * int(n) for n in rng.integers(1, 12, 300)]  # keys of many lengths
    names = [f"{n}{i}" for i, n in enumerate(names)]
    table = KeyTable()
    slot_of = {n: table.add(n) for n in names}
    rows = rng.normal(size=(300, 41)).astype(np.float32)
    rows[5, 3] = np.nan
    ts = 1_700_000_000_000_000_123
    for pick in (np.arange(300), rng.choice(300, 57, replace=False)):  # everyone, and a shuffled subset
        got = mset(table, np.array([slot_of[names[i]] for i in pick]), HEADER.pack(ts), rows[pick]).tobytes()
        assert got == resp_mset([names[i] for i in pick], [pack(ts, rows[i]) for i in pick])


def test_a_key_added_later_is_encoded_too():
    table = KeyTable()
    table.add("a")
    row = np.ones((1, 2), np.float32)
    assert mset(table, np.array([0]), b"", row).tobytes() == resp_mset(["a"], [row.tobytes()])
    table.add("bb")
    got = mset(table, np.array([1, 0]), b"", np.vstack([row, 2 * row])).tobytes()
    assert got == resp_mset(["bb", "a"], [row.tobytes(), (2 * row).tobytes()])
