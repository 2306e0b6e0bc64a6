"""What a lake holds: each dataset's days, rows, symbols, size, feature-set versions and missing sessions, and the
rejects by source and reason (``tickwise lake``). A dataset is a contract dataset or a feature set; the lake's other
folders (reports, the pipeline's own outputs and states) are listed apart, by size.

Row counts and versions come from the Parquet footers, so a large lake is summarized without reading its data;
only the last day's symbols and the rejects are read.
"""

import datetime as dt
from collections import Counter

import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from marketdata.calendar import is_session
from marketdata.lake import Lake
from marketdata.schemas import SCHEMAS

VERSION_KEY = b"tickwise.feature_set_version"
DAILY = ("trades", "quotes", "bars_1m", "features_1m", "features_served", "labels")  # one partition every session


def _files(lake: Lake, path: str) -> list[pafs.FileInfo]:
    sel = pafs.FileSelector(path, recursive=True, allow_not_found=True)
    return [i for i in lake.fs.get_file_info(sel) if i.type == pafs.FileType.File and not i.base_name.startswith(".")]


def missing_sessions(days: list[dt.date]) -> list[dt.date]:
    """The NYSE sessions between the first and the last of ``days`` that are not among them.

    >>> missing_sessions([dt.date(2026, 3, 2), dt.date(2026, 3, 4), dt.date(2026, 3, 9)])
    [datetime.date(2026, 3, 3), datetime.date(2026, 3, 5), datetime.date(2026, 3, 6)]
    """
    if not days:
        return []
    have, out, d = set(days), [], min(days)
    while d < max(days):
        if is_session(d) and d not in have:
            out.append(d)
        d += dt.timedelta(days=1)
    return out


def describe(lake: Lake, name: str) -> dict:
    """One dataset: ``days`` (first, last, count), ``rows`` and ``files`` (Parquet), ``bytes`` on disk,
    ``symbols`` on its last day (or in all of an unpartitioned one), the feature-set ``versions`` its files carry
    and, for a dataset written every session, the ``missing`` sessions between its first and last day."""
    files = _files(lake, lake.path(name))
    parquet = [f for f in files if f.base_name.endswith(".parquet")]
    days = lake.dates(name)
    rows, versions = 0, Counter[str]()
    for f in parquet:
        md = pq.read_metadata(f.path, filesystem=lake.fs)
        rows += md.num_rows
        version = (md.metadata or {}).get(VERSION_KEY)
        if version:
            versions[version.decode()] += 1
    out = {
        "dataset": name,
        "days": len(days),
        "first": days[0].isoformat() if days else None,
        "last": days[-1].isoformat() if days else None,
        "files": len(files),
        "rows": rows if parquet else None,
        "bytes": sum(f.size for f in files),
        "symbols": _symbols(lake, [f for f in parquet if not days or f"date={days[-1].isoformat()}" in f.path]),
        "versions": dict(versions),
    }
    if name in DAILY:
        out["missing"] = [d.isoformat() for d in missing_sessions(days)]
    return out


def _symbols(lake: Lake, files: list[pafs.FileInfo]) -> int | None:
    names: set[str] = set()
    for f in files:
        if "symbol" not in pq.read_schema(f.path, filesystem=lake.fs).names:
            return None
        col = pq.read_table(f.path, columns=["symbol"], filesystem=lake.fs).column("symbol")
        names.update(s for s in pc.unique(col).to_pylist() if s is not None)
    return len(names) if files else None


def is_dataset(name: str) -> bool:
    """A contract dataset (:data:`marketdata.schemas.SCHEMAS`) or a feature set (``features_*``)."""
    return name in SCHEMAS or name.startswith("features")


def _folders(lake: Lake) -> list[str]:
    info = lake.fs.get_file_info(pafs.FileSelector(lake.base, allow_not_found=True))
    names = sorted(i.base_name for i in info if i.type == pafs.FileType.Directory and not i.base_name.startswith("."))
    if not names:
        raise FileNotFoundError(f"{lake.root}: no datasets (an empty or missing lake)")
    return names


def inventory(lake: Lake) -> list[dict]:
    """:func:`describe` for every dataset under the lake's root, by name."""
    return [describe(lake, n) for n in _folders(lake) if is_dataset(n)]


def other_folders(lake: Lake) -> list[dict]:
    """The lake's folders that are not datasets (reports, ``_assets``, engine states, ...): ``folder`` and ``bytes``."""
    return [
        {"folder": n, "bytes": sum(f.size for f in _files(lake, lake.path(n)))}
        for n in _folders(lake)
        if not is_dataset(n)
    ]


def rejects_by_reason(lake: Lake) -> list[dict]:
    """The lake's rejects counted by source and reason, most first (empty when it has none)."""
    if not lake.exists("rejects"):
        return []
    t = lake.read("rejects")
    counts = t.group_by(["source", "reason"]).aggregate([("reason", "count")]).to_pylist()
    rows = [{"source": r["source"], "reason": r["reason"], "rows": r["reason_count"]} for r in counts]
    return sorted(rows, key=lambda r: (-r["rows"], r["source"], r["reason"]))
