"""MLflow tracking and registry for ``direction_model``: LightGBM text format (no pickle) with a checksum.

A new version gets alias ``challenger``; ``champion`` moves only through :func:`promote`, which the Dagster shell
calls after the blocking ``champion_gate`` check passes. Serving imports this module (never labels or CV).
"""

import json
import logging
import math
import os
import tempfile
from pathlib import Path

import lightgbm as lgb

from modeling.loaded import LoadedModel, checksum

MODEL_NAME = "direction_model"
log = logging.getLogger(__name__)


def _mlflow(tracking_uri: str | None):  # type: ignore[no-untyped-def]
    import mlflow

    mlflow.set_tracking_uri(tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db"))
    return mlflow


def register(
    booster: lgb.Booster,
    params: dict,
    metrics: dict,
    feature_set_version: str,
    plots: dict[str, str],
    tracking_uri: str | None = None,
    experiment: str = "tickwise",
    train_days: list[str] | None = None,
    codes: dict[str, list[str]] | None = None,
) -> str:
    """Log a training run and register a new ``direction_model`` version with alias ``challenger``.

    ``train_days`` (ISO dates) is kept on the version: drift reports compare live features with exactly them.
    ``codes`` (the training data's ``symbol_id``/``sector_id`` tables, :mod:`features.codes`) go into the model's
    ``meta.json``: the scorer translates its engine's codes to them."""
    mlflow = _mlflow(tracking_uri)
    from mlflow import MlflowClient

    mlflow.set_experiment(experiment)
    text = booster.model_to_string()
    meta = {
        "feature_set_version": feature_set_version,
        "feature_names": booster.feature_name(),
        "checksum": checksum(text),
        "format": "lightgbm-text",
        "codes": codes,
    }
    with mlflow.start_run() as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.log_params({k: v for k, v in params.items() if v is not None})
        mlflow.log_metrics(
            {
                k: float(v)
                for k, v in metrics.items()
                if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            }
        )
        mlflow.set_tags({"feature_set_version": feature_set_version, "model_checksum": meta["checksum"]})
        d = Path(tmp) / "model"
        d.mkdir()
        (d / "model.txt").write_text(text)
        (d / "meta.json").write_text(json.dumps(meta))
        mlflow.log_artifacts(str(d), artifact_path="model")
        for path in plots.values():
            if Path(path).exists():
                mlflow.log_artifact(path, artifact_path="plots")
        source = f"{run.info.artifact_uri}/model"
        run_id = run.info.run_id
    client = MlflowClient()
    try:
        client.get_registered_model(MODEL_NAME)
    except mlflow.exceptions.MlflowException:
        client.create_registered_model(MODEL_NAME)
    tags = {"feature_set_version": feature_set_version}
    if train_days:
        tags["train_days"] = ",".join(train_days)
    mv = client.create_model_version(MODEL_NAME, source=source, run_id=run_id, tags=tags)
    client.set_registered_model_alias(MODEL_NAME, "challenger", mv.version)
    return str(mv.version)


def version_of(alias: str, tracking_uri: str | None = None) -> str | None:
    mlflow = _mlflow(tracking_uri)
    from mlflow import MlflowClient

    try:
        return str(MlflowClient().get_model_version_by_alias(MODEL_NAME, alias).version)
    except mlflow.exceptions.MlflowException:
        return None


def load(alias_or_version: str = "champion", tracking_uri: str | None = None) -> LoadedModel:
    """Download a version (``champion``, ``challenger`` or a number), verify the checksum, build the booster."""
    mlflow = _mlflow(tracking_uri)
    ref = (
        f"models:/{MODEL_NAME}/{alias_or_version}"
        if alias_or_version.isdigit()
        else f"models:/{MODEL_NAME}@{alias_or_version}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=ref, dst_path=tmp))
        text = (local / "model.txt").read_text()
        meta = json.loads((local / "meta.json").read_text())
    if checksum(text) != meta["checksum"]:
        raise ValueError(f"{ref}: model checksum mismatch (artifact corrupted or tampered with)")
    booster = lgb.Booster(model_str=text)
    version = alias_or_version if alias_or_version.isdigit() else (version_of(alias_or_version, tracking_uri) or "?")
    dump = booster.dump_model()
    leaves = max((t.get("num_leaves", 0) for t in dump["tree_info"]), default=0)
    return LoadedModel(
        booster,
        version,
        meta["feature_set_version"],
        meta["feature_names"],
        meta["checksum"],
        booster.num_trees(),
        leaves,
        meta.get("codes"),
    )


def promote(version: str, tracking_uri: str | None = None) -> None:
    """Point ``champion`` at ``version`` (call only after the gate passed)."""
    _mlflow(tracking_uri)
    from mlflow import MlflowClient

    MlflowClient().set_registered_model_alias(MODEL_NAME, "champion", version)


def record_verdict(version: str, passed: bool, reasons: str, tracking_uri: str | None = None) -> None:
    """The champion gate's verdict on a version, where the MLflow UI shows it: tag ``gate`` (promoted / refused)
    and the reasons in the version's description."""
    _mlflow(tracking_uri)
    from mlflow import MlflowClient

    c = MlflowClient()
    c.set_model_version_tag(MODEL_NAME, version, "gate", "promoted" if passed else "refused")
    c.update_model_version(MODEL_NAME, version, description=f"champion gate: {'promoted' if passed else 'refused'} "
                           f"({reasons})")  # fmt: skip


def version_info(alias_or_version: str = "champion", tracking_uri: str | None = None) -> dict | None:
    """Version number, run id and tags of a version (None when the alias is not set)."""
    mlflow = _mlflow(tracking_uri)
    from mlflow import MlflowClient

    c = MlflowClient()
    try:
        mv = (
            c.get_model_version(MODEL_NAME, alias_or_version)
            if alias_or_version.isdigit()
            else c.get_model_version_by_alias(MODEL_NAME, alias_or_version)
        )
    except mlflow.exceptions.MlflowException:
        return None
    return {"version": str(mv.version), "run_id": mv.run_id, "tags": dict(mv.tags or {})}


def log_plots(version: str, plots: dict[str, str], tracking_uri: str | None = None) -> None:
    """Attach more plots (the evaluation's equity curve, the drift charts) to the run behind a version."""
    mlflow = _mlflow(tracking_uri)
    from mlflow import MlflowClient

    info = version_info(version, tracking_uri)
    if info is None:
        raise ValueError(f"{MODEL_NAME} version {version} does not exist")
    for path in plots.values():
        MlflowClient().log_artifact(info["run_id"], path, artifact_path="plots")
    del mlflow


def log_evaluation(
    metrics: dict,
    plots: dict[str, str],
    tags: dict[str, str],
    tracking_uri: str | None = None,
    experiment: str = "tickwise",
) -> str:
    """An evaluation or drift run (metrics + the same plots the Dagster UI shows); returns its run id."""
    mlflow = _mlflow(tracking_uri)
    mlflow.set_experiment(experiment)
    kind = tags.get("kind", "evaluation")
    with mlflow.start_run(run_name=f"{kind} {tags.get('partition', '')}".strip()) as run:
        mlflow.set_tags({"kind": "evaluation", **tags})
        mlflow.log_metrics(
            {
                k: float(v)
                for k, v in metrics.items()
                if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            }
        )
        for path in plots.values():
            mlflow.log_artifact(path, artifact_path="plots")
        return run.info.run_id


def run_url(ui_url: str, run_id: str, tracking_uri: str | None = None) -> str:
    """The MLflow UI's page of a run (``ui_url``: where ``mlflow ui`` serves the same tracking store)."""
    from mlflow import MlflowClient

    _mlflow(tracking_uri)
    experiment = MlflowClient().get_run(run_id).info.experiment_id
    return f"{ui_url.rstrip('/')}/#/experiments/{experiment}/runs/{run_id}"
