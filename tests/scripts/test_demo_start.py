"""`make demo` removes only what an earlier demo wrote: a lake of ingested data in its place stops it instead."""

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from demo_start import MARK, fresh_start  # noqa: E402


@dataclass
class Settings:
    lake: str
    landing: str
    mlflow_tracking_uri: str = "sqlite:///mlflow.db"


def test_the_demos_own_output_goes_and_someone_elses_data_stays(tmp_path):
    lake, landing = tmp_path / "data" / "lake", tmp_path / "data" / "landing"
    s = Settings(str(lake), str(landing))
    fresh_start(Console(quiet=True), s, tmp_path)  # a fresh clone: nothing there yet
    assert (lake / MARK).exists() and (landing / MARK).exists() and (tmp_path / f"{MARK}-mlflow").exists()
    (lake / "bars_1m").mkdir()
    (tmp_path / "mlflow.db").write_text("demo models")
    fresh_start(Console(quiet=True), s, tmp_path)  # the demo's own: removed, marked again
    assert not (lake / "bars_1m").exists() and (lake / MARK).exists() and not (tmp_path / "mlflow.db").exists()

    (lake / MARK).unlink()
    (lake / "bars_1m").mkdir()  # what `tickwise ingest` (default --lake data/lake) writes
    with pytest.raises(SystemExit, match="did not write"):
        fresh_start(Console(quiet=True), s, tmp_path)
    assert (lake / "bars_1m").exists()


def test_a_model_registry_it_did_not_write_and_remote_lakes_are_left_alone(tmp_path):
    s = Settings("s3://bucket/lake", "s3://bucket/landing")
    (tmp_path / "mlflow.db").write_text("someone's champion")
    with pytest.raises(SystemExit, match="did not register"):
        fresh_start(Console(quiet=True), s, tmp_path)
    assert (tmp_path / "mlflow.db").read_text() == "someone's champion" and not (tmp_path / "s3:").exists()
