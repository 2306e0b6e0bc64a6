"""paper_trading_report: realized, cost-aware P&L of the signals the scorer served (its shadow log)."""

import datetime as dt
from pathlib import Path

import dagster as dg

from assets.plots import png_md
from modeling.backtest import plot_equity
from modeling.paper import paper_trade
from monitoring import predictions
from monitoring.report import html_report, publish
from orchestration.resources import LakeResource, dagster_run_url


class PaperConfig(dg.Config):
    horizon: int = 5
    k: int = 10
    fee_bps: float = 0.5
    max_spread_bps: float | None = None  # a liquidity screen: enter only names quoting a half spread <= this


def build_serving_assets(partitions: dg.TimeWindowPartitionsDefinition) -> list:
    @dg.asset(
        partitions_def=partitions,
        group_name="serving",
        io_manager_key="json_io_manager",
        deps=["bars_1m"],
        kinds={"pandas"},
    )
    def paper_trading_report(context: dg.AssetExecutionContext, config: PaperConfig, lake: LakeResource) -> dict:
        """Top-k long / bottom-k short on the served p_up for `horizon` minutes, half spread + fee per side, on the
        NBBO mid when the bars carry quotes (whatever the labels were made on; else the close)."""
        lk = lake.lake()
        day = dt.date.fromisoformat(context.partition_key)
        if not lk.exists("signals") or day not in lk.dates("signals"):
            raise dg.Failure(f"no served signals for {day}: run `tickwise serve` (shadow log) for that day first")
        signals, bars = lk.read("signals", [day]), lk.read("bars_1m", [day])
        cap = None if config.max_spread_bps is None else config.max_spread_bps * 1e-4
        res = paper_trade(signals, bars, config.horizon, config.k, config.fee_bps, cap)
        out = Path(lk.base) / "reports" / "paper" / f"date={day}"
        out.mkdir(parents=True, exist_ok=True)
        eq = plot_equity(res, str(out / "equity.png"), title=f"paper trading {day} (served signals)")
        served = predictions.summary(signals)
        m = {k: v for k, v in res.metrics.items() if isinstance(v, int | float)}
        page = html_report(
            str(out / "index.html"), f"tickwise paper trading {day}", {"equity": eq}, {**m, **served}, {}
        )
        index = publish(page, {"Dagster run": dagster_run_url(context.run_id)})
        context.add_output_metadata(
            {
                **{k: float(v) for k, v in m.items()},
                "signals": served["signals"],
                "fallback_signals": served["fallback"],
                "breaker_signals": served["breaker"],
                "equity_curve": png_md(eq, "paper trading: equity and drawdown"),
                "report": dg.MetadataValue.path(page),
                "reports_index": dg.MetadataValue.path(index),
            }
        )
        return {"metrics": m, "served": served, "report": page}

    return [paper_trading_report]
