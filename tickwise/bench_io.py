"""What every ``tickwise bench`` command shares: the ``--json`` option, peak memory, writing the figures."""

import json
import resource
from pathlib import Path

import typer

JSON_OPTION = typer.Option("", "--json", help="Also write the figures as JSON here.")


def peak_rss_gb() -> float:
    """Peak resident memory of this process so far, in GB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def write_json(path: str, figures: dict) -> None:
    """Write ``figures`` to ``path`` when one was given."""
    if path:
        Path(path).write_text(json.dumps(figures, indent=2))
