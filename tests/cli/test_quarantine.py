"""`tickwise ingest --quarantine`: rows that break the contract go to the lake's rejects with their reasons, the
rest lands; each producer of rejects replaces only its own rows of a day."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from marketdata.lake import Lake


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tickwise.cli", *args], capture_output=True, text=True, timeout=300)


def trades_csv(path, price=None, size=None, seq=None, ts=None, correction=None):  # type: ignore[no-untyped-def]
    n = 40
    stamps = pd.date_range("2026-03-02 14:31:00", periods=n, freq="15s").strftime("%Y-%m-%d %H:%M:%S").tolist()
    df = pd.DataFrame(
        {
            "symbol": ["AAA", "BBB"] * (n // 2),
            "ts": ts if ts is not None else stamps,
            "price": price if price is not None else np.round(100 + np.arange(n) * 0.01, 2),
            "size": size if size is not None else [100] * n,
            "seq": seq if seq is not None else list(range(1, n + 1)),
            "correction": correction if correction is not None else [0] * n,
        }
    )
    df.to_csv(path, index=False)
    return df


def test_bad_rows_are_set_aside_with_reasons_and_the_rest_lands(tmp_path):
    lake = str(tmp_path / "lake")
    price = np.round(100 + np.arange(40) * 0.01, 2)
    price[3] = 0.0
    size = [100] * 40
    size[7] = -5
    seq = list(range(1, 41))
    seq[12] = seq[10]  # AAA's row 12 repeats row 10's (symbol, seq)
    trades_csv(tmp_path / "t.csv", price, size, seq)
    refused = run("ingest", "trades", str(tmp_path / "t.csv"), "--lake", lake)
    assert refused.returncode == 1 and "row 3" in refused.stderr and "non-positive" in refused.stderr
    r = run("ingest", "trades", str(tmp_path / "t.csv"), "--lake", lake, "--quarantine")
    assert r.returncode == 0, r.stderr
    assert "37 rows" in r.stdout and "3 set aside" in " ".join(r.stdout.split()), r.stdout
    lk = Lake(lake)
    assert lk.read("trades").num_rows == 37
    rej = lk.read("rejects").sort_by("seq").to_pylist()
    assert [(x["source"], x["symbol"], x["seq"]) for x in rej] == [
        ("ingest:trades", "BBB", 4),
        ("ingest:trades", "BBB", 8),
        ("ingest:trades", "AAA", 11),
    ]
    assert rej[0]["reason"] == "non-positive or NaN price in price: 0.0"
    assert rej[1]["reason"] == "negative value in size: -5.0"
    assert rej[2]["reason"] == "duplicate key (symbol, seq)"
    # the aggregator writes its own rejects beside them, and keeps the ingest's on every run
    assert run("aggregate", "--lake", lake).returncode == 0
    assert pc.count_distinct(lk.read("rejects").column("source")).as_py() == 1
    assert lk.read("rejects").num_rows == 3
    # the corrected file replaces the ingest's rejects of that day
    trades_csv(tmp_path / "t.csv")
    assert run("ingest", "trades", str(tmp_path / "t.csv"), "--lake", lake, "--quarantine").returncode == 0
    assert lk.read("rejects").num_rows == 0 and lk.read("trades").num_rows == 40


def test_a_row_without_a_time_cannot_be_set_aside(tmp_path):
    ts = pd.date_range("2026-03-02 14:31:00", periods=40, freq="15s").strftime("%Y-%m-%d %H:%M:%S").tolist()
    ts[5] = ""
    trades_csv(tmp_path / "t.csv", ts=ts)
    r = run("ingest", "trades", str(tmp_path / "t.csv"), "--lake", str(tmp_path / "lake"), "--quarantine")
    assert r.returncode == 1 and "row 5 has no timestamp" in r.stderr, r.stderr
    assert not (tmp_path / "lake" / "trades").exists()


def test_aggregate_rerun_leaves_no_stale_rejects(tmp_path):
    lake = str(tmp_path / "lake")
    corr = [0] * 40
    corr[6] = 1  # the source corrected this print: the aggregator refuses it, with that reason
    trades_csv(tmp_path / "t.csv", correction=corr)
    assert run("ingest", "trades", str(tmp_path / "t.csv"), "--lake", lake).returncode == 0
    assert run("aggregate", "--lake", lake).returncode == 0
    rej = Lake(lake).read("rejects").to_pylist()
    assert [(x["source"], x["seq"], x["reason"]) for x in rej] == [
        ("trades", 7, "corrected or cancelled by the source")
    ]
    trades_csv(tmp_path / "t.csv")  # the source's corrected file: nothing to refuse any more
    assert run("ingest", "trades", str(tmp_path / "t.csv"), "--lake", lake).returncode == 0
    assert run("aggregate", "--lake", lake).returncode == 0
    assert Lake(lake).read("rejects").num_rows == 0  # before, the first run's reject stayed
