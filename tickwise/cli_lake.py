"""``tickwise lake``: what a lake holds, at a glance."""

import json

import typer
from rich import box
from rich.console import Console
from rich.table import Table

console = Console(width=None if Console().is_terminal else 100)  # a pipe or a log gets room for the table


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" or n >= 10 else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def _span(d: dict) -> str:
    if not d["first"]:
        return "-"
    if d["first"] == d["last"]:
        return d["first"]
    last = d["last"][5:] if d["last"][:4] == d["first"][:4] else d["last"]
    return f"{d['first']} .. {last}"


def lake_cmd(
    lake: str = typer.Option("data/lake", "--lake", help="Lake root (a local path or s3://bucket/prefix)."),
    as_json: bool = typer.Option(False, "--json", help="Print the inventory as JSON instead of tables."),
) -> None:
    """What the lake holds: each dataset's days (and the NYSE sessions missing between its first and last), rows,
    symbols on its last day, size on disk and feature-set versions; then the rejects by source and reason, and the
    lake's other folders (reports, the pipeline's own outputs and states) by size.

    Rows and versions are read from the Parquet footers, so a large lake is summarized without reading its data. A
    dataset whose files carry more than one feature-set version mixes definitions: recompute it from its first
    partition."""
    from marketdata.inventory import inventory, other_folders, rejects_by_reason
    from marketdata.lake import Lake

    lk = Lake(lake)
    sets, rejects, others = inventory(lk), rejects_by_reason(lk), other_folders(lk)
    if as_json:
        print(json.dumps({"lake": lake, "datasets": sets, "rejects": rejects, "other_folders": others}, indent=2))
        return
    t = Table(title=f"lake {lake}", box=box.SIMPLE_HEAD, padding=(0, 1))
    for c in ("dataset", "days", "gaps", "span", "rows", "symbols", "size"):
        t.add_column(c, justify="left" if c in ("dataset", "span") else "right", no_wrap=True)
    for d in sets:
        missing = d.get("missing") or []
        days, gaps = (f"{d['days']}" if d["days"] else "-"), (f"[yellow]{len(missing)}[/]" if missing else "")
        rows = "-" if d["rows"] is None else f"{d['rows']:,}"
        syms = "-" if d["symbols"] is None else f"{d['symbols']:,}"
        t.add_row(d["dataset"], days, gaps, _span(d), rows, syms, _size(d["bytes"]))
    console.print(t)
    console.print(
        "symbols: on the last day; gaps: NYSE sessions between the first day and the last without a partition"
    )
    for d in sets:
        missing, v = d.get("missing") or [], d["versions"]
        if missing:
            more = " ..." if len(missing) > 6 else ""
            console.print(f"[yellow]missing sessions[/] {d['dataset']}: {', '.join(missing[:6])}{more}")
        if len(v) == 1:
            console.print(f"feature-set version {d['dataset']}: {next(iter(v))}")
        elif v:  # files of one dataset computed by different definitions
            said = ", ".join(f"{k} ({n} files)" for k, n in v.items())
            console.print(f"[red]{d['dataset']} mixes feature-set versions[/] {said}: recompute it from its first day")
    if rejects:
        r = Table(title="rejects (rows set aside, with their reasons)")
        for c in ("source", "reason", "rows"):
            r.add_column(c, justify="right" if c == "rows" else "left")
        for row in rejects:
            r.add_row(row["source"], row["reason"], f"{row['rows']:,}")
        console.print(r)
    else:
        console.print("rejects: none (no row has been set aside)")
    if others:
        said = ", ".join(f"{o['folder']} ({_size(o['bytes'])})" for o in others)
        console.print(f"other folders (not datasets): {said}")


def register(app: typer.Typer) -> None:
    app.command("lake")(lake_cmd)
