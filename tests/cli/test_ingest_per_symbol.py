"""Ingesting one file per ticker: each file replaces its own symbols' rows (and rejects), never another file's.

Vendors ship bars and ticks a file per symbol. Before, each ingest replaced whole day partitions, so the lake kept
only the last file's symbol for every day they shared: the earlier files were lost without a word.
"""

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pytest
from typer.testing import CliRunner

from marketdata.lake import Lake
from tickwise.cli import app

STAMPS = pd.date_range("2026-03-02 09:30", periods=30, freq="min").append(
    pd.date_range("2026-03-03 09:30", periods=30, freq="min")
)  # two sessions, New York wall clock


def ingest(*args: str) -> str:
    r = CliRunner().invoke(app, ["ingest", *args])
    assert r.exit_code == 0, r.output
    return r.output


def bars_file(path, base: float) -> str:  # type: ignore[no-untyped-def]
    c = base + np.arange(len(STAMPS)) * 0.01
    df = pd.DataFrame({"Date": STAMPS.strftime("%Y-%m-%d %H:%M"), "High": c + 0.02, "Low": c - 0.02, "Close": c})
    df["Open"], df["Volume"] = c, 1000
    df.to_csv(path, index=False)
    return str(path)


def ingest_bars(lake: str, file: str, symbol: str) -> None:
    m = "ts=Date,open=Open,high=High,low=Low,close=Close,volume=Volume"
    ingest("bars", file, "--map", m, "--tz", "America/New_York", "--symbol", symbol, "--lake", lake)


def closes(lake: str) -> dict[str, float]:
    t = Lake(lake).read("bars_1m")
    syms = t.column("symbol").to_pylist()
    return {s: float(pc.sum(t.filter(pc.equal(t.column("symbol"), s)).column("close")).as_py()) for s in set(syms)}


def test_files_per_ticker_all_land_and_a_rerun_replaces_only_its_own(tmp_path):
    lake = str(tmp_path / "lake")
    ingest_bars(lake, bars_file(tmp_path / "aaa.csv", 10.0), "AAA")
    ingest_bars(lake, bars_file(tmp_path / "bbb.csv", 50.0), "BBB")
    assert Lake(lake).read("bars_1m").num_rows == 2 * len(STAMPS)  # the old code kept BBB's 60 rows only
    before = closes(lake)
    ingest_bars(lake, bars_file(tmp_path / "aaa.csv", 10.0), "AAA")  # the same file again: nothing doubles
    assert Lake(lake).read("bars_1m").num_rows == 2 * len(STAMPS) and closes(lake) == before
    ingest_bars(lake, bars_file(tmp_path / "aaa2.csv", 20.0), "AAA")  # a corrected file: AAA's rows replaced
    after = closes(lake)
    assert after["BBB"] == before["BBB"]
    assert after["AAA"] == pytest.approx(before["AAA"] + 10.0 * len(STAMPS))
    assert Lake(lake).read("bars_1m").num_rows == 2 * len(STAMPS)


def test_corporate_actions_per_ticker_keep_each_other(tmp_path):
    lake = str(tmp_path / "lake")
    for sym, ratio in (("AAPL", 7.0), ("MSFT", 2.0)):
        f = tmp_path / f"{sym}.csv"
        pd.DataFrame({"ex_date": ["2026-03-03"], "split_ratio": [ratio], "cash_dividend": [0.0]}).to_csv(f)
        ingest("corporate-actions", str(f), "--symbol", sym, "--lake", lake)
    t = Lake(lake).read("corporate_actions")
    assert sorted(t.column("symbol").to_pylist()) == ["AAPL", "MSFT"]


def trades_file(path, symbol: str, bad_row: int) -> str:  # type: ignore[no-untyped-def]
    n = 20
    price = np.round(100 + np.arange(n) * 0.01, 2)
    price[bad_row] = 0.0
    stamps = pd.date_range("2026-03-02 14:31:00", periods=n, freq="15s").strftime("%Y-%m-%d %H:%M:%S")
    pd.DataFrame(
        {"symbol": symbol, "ts": stamps, "price": price, "size": 100, "seq": np.arange(1, n + 1), "correction": 0}
    ).to_csv(path, index=False)
    return str(path)


def test_quarantined_rows_of_each_file_stay_in_rejects(tmp_path):
    lake = str(tmp_path / "lake")
    a, b = trades_file(tmp_path / "a.csv", "AAA", 3), trades_file(tmp_path / "b.csv", "BBB", 5)
    for f in (a, b, a):  # AAA's file twice: its reject is replaced, not doubled, and BBB's stays
        ingest("trades", f, "--quarantine", "--lake", lake)
    rej = Lake(lake).read("rejects")
    assert sorted(rej.column("symbol").to_pylist()) == ["AAA", "BBB"]
    assert Lake(lake).read("trades").num_rows == 2 * 19


def test_aggregate_keeps_the_bars_of_symbols_without_ticks(tmp_path):
    """Bars ingested for one name, ticks for another: aggregating the ticks replaces the bars of the names it has
    ticks for, and the vendor bars stay."""
    lake = str(tmp_path / "lake")
    ingest_bars(lake, bars_file(tmp_path / "ccc.csv", 30.0), "CCC")
    ingest("trades", trades_file(tmp_path / "a.csv", "AAA", 3), "--quarantine", "--lake", lake)
    r = CliRunner().invoke(app, ["aggregate", "--lake", lake, "--date", "2026-03-02"])
    assert r.exit_code == 0, r.output
    day = Lake(lake).read("bars_1m", [pd.Timestamp("2026-03-02").date()])
    assert set(day.column("symbol").to_pylist()) == {"AAA", "CCC"}


def test_close_only_bars_say_how_to_land(tmp_path):
    """A close-only series (the usual free one-minute data) is refused with the mapping that lands it."""
    f = tmp_path / "close.csv"
    pd.DataFrame({"Date": STAMPS.strftime("%Y-%m-%d %H:%M"), "Px": 10.0 + np.arange(len(STAMPS)) * 0.01}).to_csv(f)
    lake = str(tmp_path / "lake")
    args = ["--symbol", "X", "--tz", "America/New_York", "--lake", lake]
    r = CliRunner().invoke(app, ["ingest", "bars", str(f), "--map", "ts=Date,close=Px", *args])
    assert r.exit_code != 0 and "open=X,high=X,low=X,close=X" in str(r.exception)
    ingest("bars", str(f), "--map", "ts=Date,open=Px,high=Px,low=Px,close=Px", *args)
    assert Lake(lake).read("bars_1m").num_rows == len(STAMPS)


def test_aggregate_replaces_the_bars_of_a_name_whose_ticks_are_now_all_refused(tmp_path):
    """AAA's bars from a first aggregation go when a corrected trades file leaves AAA no valid tick (every trade
    now flagged as corrected): its bars would otherwise outlive the ticks they came from."""
    lake = str(tmp_path / "lake")
    ingest_bars(lake, bars_file(tmp_path / "ccc.csv", 30.0), "CCC")
    ingest("trades", trades_file(tmp_path / "a.csv", "AAA", 3), "--quarantine", "--lake", lake)
    agg = ["aggregate", "--lake", lake, "--date", "2026-03-02"]
    assert CliRunner().invoke(app, agg).exit_code == 0
    f = tmp_path / "a2.csv"
    df = pd.read_csv(trades_file(tmp_path / "a.csv", "AAA", 3))
    df.assign(correction=8).to_csv(f, index=False)  # TAQ CORR 8: cancelled
    ingest("trades", str(f), "--quarantine", "--lake", lake)
    assert CliRunner().invoke(app, agg).exit_code == 0
    day = Lake(lake).read("bars_1m", [pd.Timestamp("2026-03-02").date()])
    assert set(day.column("symbol").to_pylist()) == {"CCC"}


def test_extended_hours_bars_are_left_out_unless_asked(tmp_path):
    """A vendor's 04:00-20:00 bars: only the regular session's 390 a day land (by the minute each bar covers: the
    09:30 bar is the session's first, the 16:00 one is not), and --no-session-only keeps them all."""
    stamps = pd.date_range("2026-03-02 04:00", "2026-03-02 19:59", freq="min")
    c = 10.0 + np.arange(len(stamps)) * 1e-3
    f = tmp_path / "ext.csv"
    pd.DataFrame({"Date": stamps.strftime("%Y-%m-%d %H:%M"), "High": c, "Low": c, "Close": c, "Open": c}).to_csv(f)
    m = ["--map", "ts=Date,open=Open,high=High,low=Low,close=Close", "--symbol", "X", "--tz", "America/New_York"]
    out = ingest("bars", str(f), *m, "--lake", str(tmp_path / "a"))
    assert "570 outside the regular session left out" in out.replace("\n", " ")
    t = Lake(str(tmp_path / "a")).read("bars_1m").column("ts").cast("int64").to_numpy()
    assert len(t) == 390 and str(pd.Timestamp(t.min(), tz="UTC")) == "2026-03-02 14:31:00+00:00"
    ingest("bars", str(f), *m, "--no-session-only", "--lake", str(tmp_path / "b"))
    assert Lake(str(tmp_path / "b")).read("bars_1m").num_rows == len(stamps)


def test_a_folder_of_ticker_files_lands_in_one_call_as_one_file_at_a_time_would(tmp_path, monkeypatch):
    """Ten per-ticker files (no symbol column) in one call, symbols from their names: the lake equals the one
    built by ten single-file calls, and each day partition is written once."""
    folder = tmp_path / "bars"
    folder.mkdir()
    names = [f"T{i}" for i in range(10)]
    for i, n in enumerate(names):
        bars_file(folder / f"{n}.csv", 10.0 + i)
    m = ["--map", "ts=Date,open=Open,high=High,low=Low,close=Close,volume=Volume", "--tz", "America/New_York"]
    writes: list = []
    real = Lake.write_partition
    monkeypatch.setattr(Lake, "write_partition", lambda self, *a, **k: writes.append(a[1]) or real(self, *a, **k))
    out = ingest("bars", str(folder), *m, "--symbol-from-filename", "--lake", str(tmp_path / "one"))
    assert "10 files" in out and len(writes) == 2  # two sessions, each partition written once (was: once a file)
    monkeypatch.undo()
    for n in names:
        ingest_bars(str(tmp_path / "each"), str(folder / f"{n}.csv"), n)
    a, b = (
        Lake(str(tmp_path / x)).read("bars_1m").sort_by([("symbol", "ascending"), ("ts", "ascending")])
        for x in ("one", "each")
    )
    assert a.num_rows == 10 * len(STAMPS) and a.equals(b)
    ingest(
        "bars",
        str(folder / "T1.csv"),
        str(folder / "T2.csv"),
        *m,
        "--symbol-from-filename",
        "--lake",
        str(tmp_path / "one"),
    )
    assert Lake(str(tmp_path / "one")).read("bars_1m").num_rows == 10 * len(STAMPS)  # a re-run of two: no change


def test_many_files_with_one_symbol_or_a_regex_alone_are_refused(tmp_path):
    f1, f2 = bars_file(tmp_path / "A.csv", 1.0), bars_file(tmp_path / "B.csv", 2.0)
    r = CliRunner().invoke(app, ["ingest", "bars", f1, f2, "--symbol", "A", "--lake", str(tmp_path / "l")])
    assert r.exit_code != 0 and "--symbol-from-filename" in str(r.exception)
    r = CliRunner().invoke(app, ["ingest", "bars", f1, "--symbol-regex", "^(.)", "--lake", str(tmp_path / "l")])
    assert r.exit_code != 0 and "goes with --symbol-from-filename" in str(r.exception)
    r = CliRunner().invoke(app, ["ingest", "bars", str(tmp_path / "*.nothing"), "--lake", str(tmp_path / "l")])
    assert r.exit_code != 0 and "no data file matches" in str(r.exception)


def test_two_tick_files_in_one_call_keep_both_files_rejects(tmp_path):
    lake = str(tmp_path / "lake")
    a, b = trades_file(tmp_path / "a.csv", "AAA", 3), trades_file(tmp_path / "b.csv", "BBB", 5)
    ingest("trades", a, b, "--quarantine", "--lake", lake)
    assert sorted(Lake(lake).read("rejects").column("symbol").to_pylist()) == ["AAA", "BBB"]
    assert Lake(lake).read("trades").num_rows == 2 * 19


def test_a_key_repeated_between_two_files_lands_nothing(tmp_path):
    """A's second file repeats its first file's minutes on the second day only: the call is refused before any
    day is written (not after the first day landed)."""
    lake = str(tmp_path / "lake")
    f1, f2 = bars_file(tmp_path / "A1.csv", 10.0), tmp_path / "A2.csv"
    df = pd.read_csv(f1)
    df[df["Date"] >= "2026-03-03"].to_csv(f2, index=False)
    m = ["--map", "ts=Date,open=Open,high=High,low=Low,close=Close,volume=Volume", "--tz", "America/New_York"]
    r = CliRunner().invoke(
        app, ["ingest", "bars", f1, str(f2), *m, "--symbol-from-filename", "--symbol-regex", "^(A)", "--lake", lake]
    )
    assert r.exit_code != 0 and "duplicate key" in str(r.exception) and "2026-03-03" in str(r.exception)
    assert not Lake(lake).exists("bars_1m")


def test_simulating_into_a_lake_of_ingested_data_is_refused(tmp_path):
    """`tickwise simulate` and `tickwise ingest` share the default lake: a simulation there would replace the
    ingested days and the reference. It is refused, naming what the lake holds; a simulated lake can be simulated
    into again, and --force overrides."""
    lake = str(tmp_path / "lake")
    ingest_bars(lake, bars_file(tmp_path / "aaa.csv", 10.0), "AAA")
    sim = ["simulate", "--symbols", "13", "--days", "1", "--out", lake]
    r = CliRunner().invoke(app, sim)
    assert r.exit_code != 0 and "did not write (bars_1m)" in str(r.exception)
    assert Lake(lake).read("bars_1m").num_rows == len(STAMPS)
    other = str(tmp_path / "sim")
    for _ in range(2):
        assert CliRunner().invoke(app, [*sim[:-1], other]).exit_code == 0
    assert CliRunner().invoke(app, [*sim, "--force"]).exit_code == 0


def test_two_files_of_one_ticker_keep_both_files_rejects(tmp_path):
    """A morning and an afternoon file of AAA in one call, each with a bad row: both rows stay set aside (written
    file by file, the afternoon's would have replaced the morning's)."""
    lake = str(tmp_path / "lake")
    a = pd.read_csv(trades_file(tmp_path / "a.csv", "AAA", 3))
    b = pd.read_csv(trades_file(tmp_path / "b.csv", "AAA", 5))
    b["ts"] = pd.to_datetime(b["ts"]) + pd.Timedelta(hours=3)
    b["seq"] += 100
    a.to_csv(tmp_path / "am.csv", index=False)
    b.to_csv(tmp_path / "pm.csv", index=False)
    ingest("trades", str(tmp_path / "am.csv"), str(tmp_path / "pm.csv"), "--quarantine", "--lake", lake)
    assert Lake(lake).read("rejects").num_rows == 2 and Lake(lake).read("trades").num_rows == 2 * 19


def test_a_symbol_given_for_a_file_that_has_one_is_refused(tmp_path):
    f = trades_file(tmp_path / "a.csv", "AAA", 3)
    r = CliRunner().invoke(app, ["ingest", "trades", f, "--symbol", "BBB", "--lake", str(tmp_path / "l")])
    assert r.exit_code != 0 and "has a symbol column and a symbol ('BBB') was given too" in str(r.exception)
