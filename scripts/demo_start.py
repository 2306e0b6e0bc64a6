"""`make demo`'s fresh start: it removes only what an earlier demo wrote, and never a lake it did not mark."""

import shutil
from pathlib import Path

MARK = ".tickwise-demo"  # in a lake or landing zone the demo wrote: its next run may remove it


def fresh_start(console, s, root: Path) -> None:  # type: ignore[no-untyped-def]
    """The demo replays the same story each time: its own outputs from a previous run (the lake and landing zone it
    marked as its own, and the default MLflow database) are removed first; the Dagster run history is kept. A lake
    or landing zone without the demo's mark holds someone's data (``tickwise ingest`` writes to ``data/lake`` by
    default): the demo stops rather than delete it; so does an MLflow database it did not mark."""
    for p in (Path(x) for x in (s.lake, s.landing) if "://" not in x):  # a remote lake is never touched
        if (p / MARK).exists():
            shutil.rmtree(p)
            console.print(f"  fresh start: removed {p} (the demo's own)")
        elif p.exists() and any(p.iterdir()):
            raise SystemExit(
                f"{p} holds data the demo did not write (no {MARK} in it), and the demo starts from an empty lake and "
                "landing zone: move it, or point TICKWISE_LAKE / TICKWISE_LANDING elsewhere; if an earlier demo wrote it "
                "(before demos marked their output), `make clean` removes it. Nothing was deleted"
            )
        p.mkdir(parents=True, exist_ok=True)
        (p / MARK).write_text("written by `make demo`; removed by its next run\n")
    if s.mlflow_tracking_uri == "sqlite:///mlflow.db":
        mark, db = root / f"{MARK}-mlflow", root / "mlflow.db"
        if db.exists() and not mark.exists():
            raise SystemExit(
                f"{db} holds models the demo did not register (no {mark.name} beside it): move it, or set "
                "TICKWISE_MLFLOW_TRACKING_URI elsewhere; `make clean` removes an earlier demo's. Nothing was deleted"
            )
        for p in (db, root / "mlruns"):
            if p.is_file():
                p.unlink()
            elif p.is_dir():
                shutil.rmtree(p)
        mark.write_text("mlflow.db and mlruns/ were written by `make demo`; removed by its next run\n")
