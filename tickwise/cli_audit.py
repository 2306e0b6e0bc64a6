"""``tickwise audit-features``: the engine's honesty checks on a feature set, a researcher's own kernels included."""

import copy
import importlib
import importlib.util
import time
from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def load_kernels(spec: str) -> Callable[[], list]:
    """``module.path:Name`` or ``path/to/file.py:Name`` -> a maker of fresh kernels (each engine gets its own, as
    each process would): ``Name`` is a Kernel class (built with no arguments), a Kernel, or a callable returning
    one or a list of them."""
    from features.spec import Kernel

    where, _, attr = spec.rpartition(":")
    if not where or not attr:
        raise ValueError(f"--kernel {spec!r}: give module.path:Name or path/to/file.py:Name")
    if where.endswith(".py"):
        if not Path(where).exists():
            raise FileNotFoundError(f"--kernel {spec!r}: no file {where}")
        loader = importlib.util.spec_from_file_location(Path(where).stem, where)
        assert loader is not None and loader.loader is not None
        module = importlib.util.module_from_spec(loader)
        loader.loader.exec_module(module)
    else:
        module = importlib.import_module(where)
    if not hasattr(module, attr):
        raise ValueError(f"--kernel {spec!r}: {where} has no {attr!r}")
    obj = getattr(module, attr)

    def fresh() -> list:
        made = obj() if isinstance(obj, type) or (callable(obj) and not isinstance(obj, Kernel)) else copy.deepcopy(obj)
        out = made if isinstance(made, list) else [made]
        if not out or not all(isinstance(k, Kernel) for k in out):
            raise ValueError(f"--kernel {spec!r}: {attr} gives {type(made).__name__}, not a features.spec.Kernel")
        return out

    fresh()  # refuse a bad spec before any work
    return fresh


def audit_features(
    kernel: list[str] = typer.Option(
        None, "--kernel", help="A kernel of yours to add to the default set: module.path:Name or file.py:Name (repeat)."
    ),
    seeds: int = typer.Option(2, min=1, help="Random streams to run the checks on (each has every awkward case)."),
) -> None:
    """Future poisoning, online = offline (with restarts from the checkpoint) and backfill = continuous, for every
    feature of the default set and the kernels you add: what the engine's own tests check, for your features.

    The streams have missing bars, halts, a split, a dividend and a late joiner. Exits 1 if any feature fails,
    naming it and the check. A feature set with a kernel of yours runs the numpy kernels (the compiled step covers
    the default set only); add the kernel to `features.kernels.default_kernels` to use it everywhere."""
    from features.audit import audit
    from features.engine import FeatureEngine, default_kernels

    makers = [load_kernels(spec) for spec in kernel or []]
    extra = [k for m in makers for k in m()]

    def make(ref, ca):  # type: ignore[no-untyped-def]
        if not makers:
            return FeatureEngine(ref, ca)
        return FeatureEngine(ref, ca, kernels=default_kernels() + [k for m in makers for k in m()])

    t0 = time.perf_counter()
    with console.status("auditing"):
        report = audit(make, seeds=tuple(range(seeds)))
    t = Table(title=f"feature audit: {len(report.features)} features, {report.rows:,} rows, {seeds} stream(s)")
    for c in ("feature", "poisoning", "online = offline", "missing", "backfill"):
        t.add_column(c, justify="left" if c == "feature" else "right", no_wrap=True)
    t.caption = "online = offline: max relative difference (<= 1e-9); missing: rows missing on one side only"
    mine = {s.name for k in extra for s in k.outputs()}
    for f in report.features:
        name = f"[bold]{f.name}[/] (yours)" if f.name in mine else f.name
        t.add_row(
            name,
            "[red]CHANGED[/]" if f.poisoned else "ok",
            f"{f.max_rel:.1e}" if f.max_rel > 1e-9 else "ok",
            f"[red]{f.nan_mismatch}[/]" if f.nan_mismatch else "ok",
            f"[red]{f.backfill_differs} rows[/]" if f.backfill_differs else "ok",
        )
    console.print(t)
    if report.ok:
        console.print(f"[green]all {len(report.features)} features pass[/] ({time.perf_counter() - t0:.0f} s)")
        return
    for f in report.failed:
        what = [w for w, bad in (("future poisoning", f.poisoned), ("online vs offline", f.max_rel > 1e-9 or
                f.nan_mismatch), ("backfill", f.backfill_differs)) if bad]  # fmt: skip
        console.print(f"[red]FAILED[/] {f.name}: {', '.join(what)}")
    raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("audit-features")(audit_features)
