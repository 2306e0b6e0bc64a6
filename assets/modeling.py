"""Labels, the training set, the model behind a gate, and its evaluation."""

import datetime as dt
import tempfile
from pathlib import Path

import dagster as dg
import numpy as np
import pyarrow as pa
from sklearn.metrics import log_loss

from assets.plots import importance_png, png_md
from features import codes
from modeling import registry
from modeling.backtest import plot_equity
from modeling.dataset import build_dataset
from modeling.gate import champion_gate
from modeling.labels import LabelConfig, make_labels
from modeling.metrics import ic_by_minute, ic_edge
from modeling.train import Dataset, fit_lgbm, fit_logistic, importance, predict_logistic
from modeling.walkforward import WalkForwardConfig, evaluate, plot_oos
from monitoring.report import html_report, publish
from orchestration.io_manager import write_day, written
from orchestration.resources import LakeResource, MLflowResource, dagster_run_url

M = 60_000_000_000
LABEL_PRICE_KEY = "tickwise.label_price"


class TrainConfig(dg.Config):
    horizon: int = 5
    trials: int = 0
    holdout_frac: float = 0.25
    embargo_minutes: int = 5


def _concat(parts: dict[str, pa.Table]) -> pa.Table:
    return pa.concat_tables([parts[k] for k in sorted(parts)])


def _oos(d: Dataset, p: np.ndarray) -> dict:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    ics = ic_by_minute(d.ts, p, d.extra["fwd"])
    return {"logloss": float(log_loss(d.y, p, labels=[0, 1])), "ic": float(np.mean(ics)) if len(ics) else 0.0}


def label_price_of(lk, keys: list[str]) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The price each day's ``labels`` partition was made on (its file's ``tickwise.label_price``; a partition
    written before the setting existed was made on the close)."""
    from marketdata.lake import table_metadata

    return {
        k: table_metadata(f"{lk.path('labels', dt.date.fromisoformat(k))}/part-0.parquet").get(LABEL_PRICE_KEY, "close")
        for k in keys
    }


def build_model_assets(
    partitions: dg.TimeWindowPartitionsDefinition, window_days: int, label_price: str = "close"
) -> list:
    window = dg.TimeWindowPartitionMapping(start_offset=-(window_days - 1), end_offset=0)

    @dg.asset(
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        metadata={"dataset": "labels"},
        group_name="modeling",
        kinds={"parquet"},
        deps=["bars_1m"],
    )
    def triple_barrier_labels(context: dg.AssetExecutionContext, lake: LakeResource):  # type: ignore[no-untyped-def]
        """Directional triple-barrier labels per session (only prices after t; sigma known at t), a day at a time:
        a range of any length holds one day. Taken on the ``label_price`` setting's price, which each file records."""
        lk, rows, up = lake.lake(), {}, {}
        for key in context.partition_keys:
            bars = lk.read("bars_1m", [dt.date.fromisoformat(key)])
            if bars.num_rows:
                labels = make_labels(bars, LabelConfig(price=label_price))
                rows[key] = write_day(lk, "labels", key, labels, {LABEL_PRICE_KEY: label_price})
                up[key] = round(float(np.mean(labels.column("label").to_numpy())), 4) if labels.num_rows else 0.0
        return dg.Output(written(context, rows, up_share=up), metadata={"label_price": label_price})

    @dg.asset(
        partitions_def=partitions,
        group_name="modeling",
        io_manager_key="json_io_manager",
        kinds={"python"},
        ins={
            "features_1m": dg.AssetIn(partition_mapping=window),
            "triple_barrier_labels": dg.AssetIn(partition_mapping=window),
            "bars_1m": dg.AssetIn(partition_mapping=window),
        },
    )
    def training_dataset(
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        features_1m: dict[str, pa.Table],
        triple_barrier_labels: dict[str, pa.Table],
        bars_1m: dict[str, pa.Table],
    ) -> dict:
        """A rolling window of sessions ending at the partition, labels joined point-in-time to features. Every
        day's labels must be on the ``label_price`` setting's price."""
        made = label_price_of(lake.lake(), sorted(triple_barrier_labels))
        if stale := sorted(k for k, v in made.items() if v != label_price):
            raise dg.Failure(
                f"triple_barrier_labels of {', '.join(stale)} were made on the {made[stale[0]]}, but "
                f"TICKWISE_LABEL_PRICE is {label_price!r}: rematerialize triple_barrier_labels for those days"
            )
        cfg = LabelConfig(price=label_price)
        d = build_dataset(_concat(bars_1m), _concat(features_1m), cfg, _concat(triple_barrier_labels))
        folder = Path(lake.lake().base) / "training_dataset" / f"date={context.partition_key}"
        folder.mkdir(parents=True, exist_ok=True)
        path = str(folder / "dataset.npz")
        np.savez(
            path,
            X=d.X,
            y=d.y,
            w=d.w,
            ts=d.ts,
            t1=d.t1,
            symbol=d.extra["symbol"].astype(str),
            fwd=d.extra["fwd"],
            half_spread=d.extra["half_spread"],
            names=np.array(d.names),
        )
        context.add_output_metadata(
            {
                "events": len(d.y),
                "features": len(d.names),
                "days": len(features_1m),
                "float32_mb": round(d.X.nbytes / 1e6, 1),
            }
        )
        md = features_1m[max(features_1m)].schema.metadata or {}
        version = md.get(b"tickwise.feature_set_version", b"").decode()
        if not version:
            raise dg.Failure("features_1m carries no feature-set version in its metadata; rematerialize it")
        try:  # the model keeps the window's symbol/sector codes, so a scorer can translate its own to them
            tables = codes.of_days({k: v.schema.metadata or {} for k, v in features_1m.items()})
        except ValueError as e:
            raise dg.Failure(str(e)) from e
        return {
            "path": path,
            "events": len(d.y),
            "days": sorted(features_1m),
            "feature_set_version": version,
            "codes": tables,
        }

    @dg.asset(
        partitions_def=partitions,
        group_name="modeling",
        io_manager_key="json_io_manager",
        kinds={"lightgbm", "mlflow"},
        check_specs=[
            dg.AssetCheckSpec(
                "champion_gate",
                asset="direction_model",
                blocking=True,
                description="beats the logistic baseline and the champion OOS (a refusal is a warning: the "
                "challenger is not promoted, champion_model skips)",
            )
        ],
    )
    def direction_model(
        context: dg.AssetExecutionContext, config: TrainConfig, mlflow: MLflowResource, training_dataset: dict
    ):  # type: ignore[no-untyped-def]
        """LightGBM trained on the window before a purged holdout, registered as challenger, gated."""
        d = _load(training_dataset["path"])
        cut = np.quantile(d.ts, 1 - config.holdout_frac)
        hz, emb = config.horizon * M, config.embargo_minutes * M
        train = d.take(np.flatnonzero((d.t1 < cut) & (d.ts <= cut - hz - emb)))
        hold = d.take(np.flatnonzero(d.ts >= cut))
        params: dict = {}
        if config.trials:
            from modeling.hpo import sweep

            params = sweep(train, config.trials, emb, hz).best_params
        model = fit_lgbm(train, params, gap_ns=hz)
        p_ch, p_base = model.predict(hold.X), predict_logistic(fit_logistic(train), hold.X)
        ch, base = _oos(hold, p_ch), _oos(hold, p_base)
        champ, edges = None, {"baseline": ic_edge(hold.ts, hold.extra["fwd"], p_ch, p_base, config.horizon)}
        if (v := registry.version_of("champion", mlflow.tracking_uri)) is not None:
            cur = registry.load("champion", mlflow.tracking_uri)
            if cur.feature_names == d.names:  # scored in its own codes, as the scorer would feed it
                X = codes.recoded(hold.X, d.names, cur.codes or {}, training_dataset.get("codes", {}))
                p_champ = cur.booster.predict(X)
                champ = _oos(hold, p_champ)
                edges["champion"] = ic_edge(hold.ts, hold.extra["fwd"], p_ch, p_champ, config.horizon)
        with tempfile.TemporaryDirectory() as tmp:  # the MLflow run holds the plot the UI shows
            plot = importance_png(importance(model), f"{tmp}/importance.png")
            version = registry.register(
                model,
                {**params, "horizon": config.horizon},
                {**ch, "baseline_logloss": base["logloss"], "baseline_ic": base["ic"]},
                training_dataset["feature_set_version"],
                {"importance": plot},
                mlflow.tracking_uri,
                train_days=sorted(training_dataset["days"]),
                codes=training_dataset.get("codes"),
            )
        gate = champion_gate(ch, base, champ)
        for name, (edge, t) in edges.items():  # evidence beside the decision: is the IC edge above one holdout's noise?
            gate.metadata[f"ic_edge_vs_{name}"], gate.metadata[f"ic_edge_t_vs_{name}"] = edge, t
        verdict = gate.metadata["reasons"]
        registry.record_verdict(version, gate.passed, verdict, mlflow.tracking_uri)
        yield dg.Output(
            {
                "version": version,
                "challenger": ch,
                "baseline": base,
                "champion": champ,
                "champion_version": v,
                "trees": model.num_trees(),
                "gate": {"passed": gate.passed, "reasons": verdict},
            },
            metadata={"model_version": version, "trees": model.num_trees(), "holdout_events": len(hold.y)},
        )
        yield dg.AssetCheckResult(  # a refusal is a valid outcome, not a failed step: a warning, the reasons first
            check_name="champion_gate", passed=gate.passed, severity=dg.AssetCheckSeverity.WARN,
            description=("promoted: " if gate.passed else "refused: ") + verdict,
            metadata={"reasons": verdict, **gate.metadata}, asset_key="direction_model",
        )  # fmt: skip

    @dg.asset(partitions_def=partitions, group_name="modeling", io_manager_key="json_io_manager", kinds={"mlflow"},
              output_required=False)  # fmt: skip
    def champion_model(context: dg.AssetExecutionContext, mlflow: MLflowResource, direction_model: dict):  # type: ignore[no-untyped-def]
        """The champion alias moved to the challenger if champion_gate passed; else skipped, its reasons logged."""
        gate = direction_model["gate"]
        if not gate["passed"]:
            context.log.info(f"champion gate refused version {direction_model['version']}: {gate['reasons']}")
            return
        registry.promote(v := direction_model["version"], mlflow.tracking_uri)
        yield dg.Output({"version": v}, metadata={"champion_version": v})

    @dg.asset(
        partitions_def=partitions, group_name="modeling", io_manager_key="json_io_manager", kinds={"lightgbm", "mlflow"}
    )
    def model_evaluation(
        context: dg.AssetExecutionContext,
        config: TrainConfig,
        lake: LakeResource,
        mlflow: MLflowResource,
        training_dataset: dict,
    ) -> dict:
        """Walk-forward OOS metrics and a cost-aware backtest over the window; equity and importance plots in the
        UI, in an MLflow evaluation run and on a static HTML page."""
        d = _load(training_dataset["path"])
        res = evaluate(d, WalkForwardConfig(horizon=config.horizon, folds=3))
        out = Path(lake.lake().base) / "reports" / "evaluation" / f"date={context.partition_key}"
        out.mkdir(parents=True, exist_ok=True)
        eq = plot_equity(res.backtest, str(out / "equity.png"))  # type: ignore[attr-defined]
        imp = importance_png(res.importance, str(out / "importance.png"))
        diag = plot_oos(res, str(out / "diagnostics.png"), f"walk-forward out of sample, {context.partition_key}")
        m = {k: v for k, v in res.metrics.items() if isinstance(v, int | float)}
        run_id = registry.log_evaluation(
            m,
            {"equity": eq, "importance": imp, "diagnostics": diag},
            {"partition": context.partition_key, "feature_set_version": training_dataset["feature_set_version"]},
            mlflow.tracking_uri,
        )
        page = html_report(
            str(out / "index.html"),
            f"tickwise evaluation {context.partition_key}",
            {
                "equity curve and drawdown (net of costs)": eq,
                "feature importance": imp,
                "calibration and IC per session": diag,
            },
            {**m, "days": training_dataset["days"]},
            {},
        )
        index = publish(page, {"MLflow run": mlflow.url_of(run_id), "Dagster run": dagster_run_url(context.run_id)})
        context.add_output_metadata(
            {
                "equity_curve": png_md(eq, "equity curve and drawdown"),
                "importance": png_md(imp, "importance"),
                "diagnostics": png_md(diag, "calibration and IC per session"),
                "report": dg.MetadataValue.path(page),
                "reports_index": dg.MetadataValue.path(index),
                "mlflow_run": mlflow.run_link(run_id),
                **{k: float(v) for k, v in m.items()},
            }
        )
        return {"metrics": m, "importance": res.importance[:15], "report": page, "mlflow_run": run_id}

    return [triple_barrier_labels, training_dataset, direction_model, champion_model, model_evaluation]


def _load(path: str) -> Dataset:
    z = np.load(path, allow_pickle=False)
    return Dataset(
        z["X"],
        z["y"],
        z["w"],
        z["ts"],
        z["t1"],
        [str(n) for n in z["names"]],
        {"symbol": z["symbol"].astype(object), "fwd": z["fwd"], "half_spread": z["half_spread"]},
    )
