"""drift_report: PSI against the champion's training days, adversarial validation of last week vs this week,
the prediction monitor over the day's served signals, scorer latency, plots and a static HTML page."""

import datetime as dt
from pathlib import Path

import dagster as dg
import pyarrow as pa

from assets.plots import png_md
from features.engine import FFD_D, FeatureEngine
from marketdata.lake import Lake
from modeling import registry
from monitoring.drift import unquoted
from monitoring.pipeline import DriftSettings
from monitoring.pipeline import drift_report as compute_drift_report
from monitoring.report import publish
from orchestration.resources import LakeResource, MLflowResource, dagster_run_url


class DriftConfig(dg.Config):
    max_rows: int = 100_000
    seed: int = 0


def windows(available: list[dt.date], day: dt.date, size: int) -> tuple[list[dt.date], list[dt.date]]:
    """(last week, this week): the ``size`` sessions ending at ``day`` and the ``size`` before them, among the
    sessions the lake has features for.

    >>> ds = [dt.date(2026, 3, d) for d in (2, 3, 4, 5, 6, 9)]
    >>> [[d.day for d in w] for w in windows(ds, dt.date(2026, 3, 9), 2)]
    [[4, 5], [6, 9]]
    """
    past = [d for d in available if d <= day]
    return past[-2 * size : -size] if len(past) > size else [], past[-size:]


def _read(lake: Lake, dataset: str, days: list[dt.date]) -> pa.Table | None:
    have = set(lake.dates(dataset)) if lake.exists(dataset) else set()
    days = [d for d in days if d in have]
    return lake.read(dataset, days) if days else None


def build_monitoring_assets(
    partitions: dg.TimeWindowPartitionsDefinition,
    window_days: int,
    psi_threshold: float,
    adv_threshold: float,
    missing_rise: float = DriftSettings.missing_rise,
    ffd_d: float = FFD_D,
) -> list:
    @dg.asset(
        partitions_def=partitions,
        group_name="monitoring",
        io_manager_key="json_io_manager",
        deps=["features_1m"],
        kinds={"evidently", "lightgbm"},
    )
    def drift_report(
        context: dg.AssetExecutionContext, config: DriftConfig, lake: LakeResource, mlflow: MLflowResource
    ) -> dict:
        """Is today's market still the one the champion learnt? PSI per feature vs its training days, an
        adversarial classifier on last week vs this week, and what the scorer served."""
        lk = lake.lake()
        day = dt.date.fromisoformat(context.partition_key)
        have = lk.dates("features_1m") if lk.exists("features_1m") else []
        last, this = windows(have, day, window_days)
        if day not in have:
            raise dg.Failure(f"features_1m has no partition {day}: materialize it first")
        champ = registry.version_info("champion", mlflow.tracking_uri)
        train_days = champ["tags"].get("train_days", "") if champ else ""
        ref_days = [dt.date.fromisoformat(x) for x in train_days.split(",") if x]
        ref_days = [d for d in ref_days if d in set(have)] or last
        if not ref_days:
            raise dg.Failure(
                f"no reference for {day}: no champion with recorded training days and no sessions before "
                f"{this[0]} in features_1m (drift needs at least {window_days + 1} sessions of history)"
            )
        reference = lk.read("features_1m", ref_days)
        current = lk.read("features_1m", this)
        prev = lk.read("features_1m", last) if last else None
        signals = _read(lk, "signals", [day])
        sig_days = lk.dates("signals") if lk.exists("signals") else []
        earlier = [d for d in sig_days if d < day]
        ref_signals = _read(lk, "signals", earlier[-1:]) if earlier else None
        latency = _latency(lk, day)
        out = Path(lk.base) / "reports" / "drift" / f"date={day}"
        s = compute_drift_report(
            str(out),
            FeatureEngine(ffd_d=ffd_d).names,
            reference,
            prev,
            current,
            signals,
            ref_signals,
            latency,
            DriftSettings(psi_threshold, adv_threshold, config.max_rows, config.seed, missing_rise),
            title=f"tickwise drift report {day}",
            inputs_missing={"two-sided quote": (_unquoted_share(lk, ref_days), _unquoted_share(lk, this))},
        )
        s.update(
            partition=context.partition_key,
            reference_days=[str(d) for d in ref_days],
            reference_kind="champion training days" if train_days else "previous window",
            last_week=[str(d) for d in last],
            this_week=[str(d) for d in this],
            champion_version=champ["version"] if champ else None,
        )
        md: dict = {
            "psi_max": float(s["psi_max"]),
            "psi_worst": str(s["psi_worst"]),
            "psi": dg.MetadataValue.json({k: round(v, 4) for k, v in s["psi"].items()}),
            "drifted_features": dg.MetadataValue.json(s["drifted"]),
            "going_missing": dg.MetadataValue.json(s["going_missing"]),
            "missing_rise": missing_rise,
            "psi_threshold": psi_threshold,
            "adversarial_threshold": adv_threshold,
            "reference_days": dg.MetadataValue.json(s["reference_days"]),
            "report": dg.MetadataValue.path(s["html"]),
            "evidently_report": dg.MetadataValue.path(s["evidently_html"]),
        }
        if s["adversarial_auc"] is not None:
            md["adversarial_auc"] = float(s["adversarial_auc"])
            md["adversarial_top"] = dg.MetadataValue.json(s["adversarial_top"])
        if "predictions" in s:
            md["served"] = dg.MetadataValue.json(s["predictions"])
        if latency:
            md["scorer_p50_ms"], md["scorer_p99_ms"] = float(latency["p50_ms"]), float(latency["p99_ms"])
        for name, path in s["figures"].items():
            md[name.replace(" ", "_")] = png_md(path, name)
        run_id = registry.log_evaluation(
            {k: v for k, v in (("psi_max", s["psi_max"]), ("adversarial_auc", s["adversarial_auc"])) if v is not None},
            s["figures"],
            {"kind": "drift", "partition": context.partition_key, "report": s["html"]},
            mlflow.tracking_uri,
        )
        md["mlflow_run"] = mlflow.run_link(run_id)
        md["reports_index"] = dg.MetadataValue.path(
            publish(s["html"], {"MLflow run": mlflow.url_of(run_id), "Dagster run": dagster_run_url(context.run_id)})
        )
        context.add_output_metadata(md)
        return s

    return [drift_report]


def _unquoted_share(lk: Lake, days: list[dt.date]) -> float:
    """The share of the days' bars without a usable two-sided quote, read a day at a time (0 without bars)."""
    have = set(lk.dates("bars_1m")) if lk.exists("bars_1m") else set()
    counts = [unquoted(lk.read("bars_1m", [d])) for d in days if d in have]
    total = sum(n for _, n in counts)
    return sum(m for m, _ in counts) / total if total else 0.0


def _latency(lk: Lake, day: dt.date) -> dict | None:
    """Latency percentiles of the day's scorer runs (written by `tickwise serve`; each figure its worst run's)."""
    from monitoring.scorer_runs import day_latency

    return day_latency(lk, day)
