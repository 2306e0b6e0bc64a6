"""``tickwise ingest``: bring your own data (CSV or Parquet) into the lake, validated against the contract.

Bars, trades and quotes take one file or many (globs, directories): the rows of all of them are grouped by day and
each day partition is written once (:mod:`marketdata.bulk`), replacing the rows of the symbols the files name and
keeping every other symbol's (decision 029).
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console()

ingest_app = typer.Typer(
    help="Bring your own data (CSV or Parquet) into the lake, validated against the contract.", no_args_is_help=True
)

_FILES = typer.Argument(
    ..., help="Files, globs or directories (a directory: its .csv/.txt/.parquet files; .gz, and a .zip of one file)."
)
_MAP = typer.Option(None, "--map", help="CONTRACT=FILE column pairs, e.g. ts=Date,close=Close,symbol=Ticker.")
_TZ = typer.Option("UTC", "--tz", help="Time zone of naive timestamps, e.g. America/New_York for wall-clock files.")
_LAKE = typer.Option("data/lake", "--lake", help="Lake root to write into.")
_SYM = typer.Option(None, "--symbol", help="Symbol for a file that has no symbol column (one file only).")
_FROM_NAME = typer.Option(
    False, "--symbol-from-filename", help="Each file's symbol is in its name (AAPL.csv -> AAPL; see --symbol-regex)."
)
_REGEX = typer.Option(
    None,
    "--symbol-regex",
    help=r"With --symbol-from-filename: a regex whose first group is the symbol, e.g. '^([a-z.]+?)\.us\.' for "
    "aapl.us.txt (default: the name without its data suffixes).",
)
_PS = typer.Option(1.0, "--price-scale", help="Multiply prices by this (e.g. 0.0001 for prices in 1/10000 $).")
_SS = typer.Option(1.0, "--size-scale", help="Multiply sizes/volumes by this (e.g. 100 for round lots).")
_Q = typer.Option(
    False,
    "--quarantine",
    help="Set aside rows that break the contract (a null, a non-positive price, a negative size, a repeated key) "
    "in the lake's rejects with their reasons, and land the rest; without it such a row refuses the whole file.",
)


def progress(transient: bool = False) -> Progress:
    """The commands' progress bar: on stderr, so stdout stays the result."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=transient,
    )


@dataclass
class _Run:
    """What an ingest of many files did: rows kept and left out, rows set aside, clock warnings (said once)."""

    rows: int = 0
    left_out: int = 0
    asides: list = field(default_factory=list)
    hints: set[str] = field(default_factory=set)


def _symbols(files: list[str], symbol: str | None, from_name: bool, regex: str | None) -> list[str | None]:
    from marketdata.bulk import STEM, symbol_of

    if symbol and len(files) > 1:
        raise ValueError(
            f"--symbol names one file's symbol, and {len(files)} files were given: use --symbol-from-filename"
        )
    if regex and not from_name:
        raise ValueError("--symbol-regex goes with --symbol-from-filename")
    if from_name:
        return [symbol_of(f, regex or STEM) for f in files]
    return [symbol] * len(files)


def _many(
    dataset: str, paths: list[str], lake: str, symbols: tuple, one: Callable[[str, str | None, _Run], pa.Table]
) -> None:
    """Run ``one(file, symbol, run) -> table`` on every file, then land every day once."""
    from marketdata.bulk import DaySpill, expand, land
    from marketdata.lake import Lake
    from marketdata.rejects import combine

    files = expand(paths)
    syms = _symbols(files, *symbols)
    spill, run, lk = DaySpill(dataset), _Run(), Lake(lake)
    with progress(transient=True) as p:
        task = p.add_task(f"reading {len(files)} file(s)", total=len(files))
        for f, s in zip(files, syms, strict=True):
            t = one(f, s, run)
            spill.add(t)
            run.rows += t.num_rows
            p.advance(task)
        days = spill.days()
        task = p.add_task(f"writing {dataset}", total=len(days))
        land(lk, dataset, spill, f"{len(files)} file(s)", lambda _: p.advance(task))
    if run.asides:  # the rows set aside land once the rows kept have, every file's at once
        combine(run.asides).write(lk)
    for h in sorted(run.hints):
        console.print(f"[yellow]warning:[/] {h}")
    note = f", {run.left_out:,} outside the regular session left out" if run.left_out else ""
    aside = sum(a.rejects.num_rows for a in run.asides)
    note += f", {aside:,} set aside in {lake}/rejects (source ingest:{dataset})" if run.asides else ""
    src = files[0] if len(files) == 1 else f"{len(files)} files"
    console.print(f"{dataset}: {run.rows:,} rows from {src} -> {lake} ({len(days)} day partition(s)){note}")


def _ticks(dataset: str, mapping, tz, price_scale, size_scale, session_only, quarantine, nbbo):  # type: ignore[no-untyped-def]
    """One tick file's rows as they will land (quarantined, consolidated, cut to the session)."""
    from marketdata import loaders
    from marketdata.rejects import quarantine as set_aside

    cmap = loaders.parse_mapping(mapping)

    def one(file: str, symbol: str | None, run: _Run) -> pa.Table:
        raw = loaders.read_any(file)
        table = loaders.from_table(raw, dataset, cmap, tz, price_scale, size_scale, symbol, file, not quarantine)
        ex_col = cmap.get("exchange", "EX")
        exchange = raw.column(ex_col) if ex_col in raw.column_names else None
        if quarantine:
            aside = set_aside(table, dataset, f"ingest:{dataset}", exchange)
            table, exchange = aside.kept, aside.beside
            run.asides.append(aside)
        if nbbo:  # before the session filter: the opening NBBO is built from pre-market quotes
            if exchange is None:
                raise ValueError(f"{file}: --nbbo needs the exchange column {ex_col!r} (map it with exchange=COLUMN)")
            table = loaders.consolidate_nbbo(table, exchange)
        if session_only:
            mask = loaders.regular_session_mask(table.column("ts"))
            run.left_out += int((~mask).sum())
            table = table.filter(mask)
            hint = loaders.clock_hint(raw, cmap, tz)
            if hint:
                run.hints.add(hint)
        return table

    return one


@ingest_app.command("bars")
def ingest_bars(
    files: list[str] = _FILES,
    mapping: str = _MAP,
    tz: str = _TZ,
    lake: str = _LAKE,
    symbol: str = _SYM,
    symbol_from_filename: bool = _FROM_NAME,
    symbol_regex: str = _REGEX,
    price_scale: float = _PS,
    size_scale: float = _SS,
    stamp: str = typer.Option("start", help="Whether the file stamps a bar at its 'start' (most vendors) or 'end'."),
    session_only: bool = typer.Option(
        True, help="Keep only bars inside the regular session (vendors' extended-hours bars would enter the features)."
    ),
) -> None:
    """1-minute bars (bars_1m columns; missing vwap/trades/NBBO/halted are derived or left empty)."""
    from marketdata import loaders
    from marketdata.bars_io import complete_bars, in_session

    cmap = loaders.parse_mapping(mapping)

    def one(file: str, sym: str | None, run: _Run) -> pa.Table:
        raw = loaders.read_any(file)
        table = complete_bars(raw, cmap, tz, price_scale, size_scale, sym, file, stamp)
        if session_only:
            mask = in_session(table)
            run.left_out += int((~mask).sum())
            table = table.filter(mask)
            hint = loaders.clock_hint(raw, cmap, tz)
            if hint:
                run.hints.add(hint)
        return table

    _many("bars_1m", files, lake, (symbol, symbol_from_filename, symbol_regex), one)


@ingest_app.command("trades")
def ingest_trades(
    files: list[str] = _FILES,
    mapping: str = _MAP,
    tz: str = _TZ,
    lake: str = _LAKE,
    symbol: str = _SYM,
    symbol_from_filename: bool = _FROM_NAME,
    symbol_regex: str = _REGEX,
    price_scale: float = _PS,
    size_scale: float = _SS,
    session_only: bool = typer.Option(True, help="Keep only regular-session trades."),
    quarantine: bool = _Q,
) -> None:
    """Trades (symbol, ts, price, size[, seq, exchange, correction]); TAQ: --map ts=DT,correction=CORR,exchange=EX."""
    one = _ticks("trades", mapping, tz, price_scale, size_scale, session_only, quarantine, False)
    _many("trades", files, lake, (symbol, symbol_from_filename, symbol_regex), one)


@ingest_app.command("quotes")
def ingest_quotes(
    files: list[str] = _FILES,
    mapping: str = _MAP,
    tz: str = _TZ,
    lake: str = _LAKE,
    symbol: str = _SYM,
    symbol_from_filename: bool = _FROM_NAME,
    symbol_regex: str = _REGEX,
    price_scale: float = _PS,
    size_scale: float = _SS,
    nbbo: bool = typer.Option(False, "--nbbo", help="Per-exchange quotes: consolidate into the NBBO."),
    session_only: bool = typer.Option(True, help="Keep only regular-session quotes."),
    quarantine: bool = _Q,
) -> None:
    """Quotes (symbol, ts, bid, ask, bid_size, ask_size[, seq]); TAQ: --map ask=OFR,ask_size=OFRSIZ,... --nbbo."""
    one = _ticks("quotes", mapping, tz, price_scale, size_scale, session_only, quarantine, nbbo)
    _many("quotes", files, lake, (symbol, symbol_from_filename, symbol_regex), one)


@ingest_app.command("corporate-actions")
def ingest_ca(file: str, mapping: str = _MAP, lake: str = _LAKE, symbol: str = _SYM) -> None:
    """Corporate actions (symbol, ex_date, split_ratio, cash_dividend); rows with no action are skipped."""
    import pyarrow.compute as pc

    from marketdata import loaders
    from marketdata.lake import Lake

    t = loaders.load(file, "corporate_actions", loaders.parse_mapping(mapping), symbol=symbol)
    t = t.filter(pc.or_(pc.not_equal(t.column("split_ratio"), 1.0), pc.greater(t.column("cash_dividend"), 0.0)))
    Lake(lake).write("corporate_actions", t, source=file, by_symbol=True)
    console.print(f"corporate_actions: {t.num_rows:,} actions from {file} -> {lake}")


@ingest_app.command("reference")
def ingest_reference(file: str, mapping: str = _MAP, lake: str = _LAKE) -> None:
    """Reference data (symbol, sector, market_cap, is_etf, leader)."""
    from marketdata import loaders
    from marketdata.lake import Lake

    t = loaders.load(file, "reference", loaders.parse_mapping(mapping))
    Lake(lake).write("reference", t, source=file, by_symbol=True)
    console.print(f"reference: {t.num_rows:,} symbols from {file} -> {lake}")
