"""Raw-data assets: raw_trades, raw_quotes, bars_1m (daily), corporate_actions and reference."""

import datetime as dt

import dagster as dg
import pyarrow as pa

from assets.bar_checks import CHECK_NAMES, run_bar_checks
from marketdata.aggregate import aggregate
from orchestration.resources import MarketSourceResource

SINGLE_RUN = dg.BackfillPolicy.single_run()


def _days(context: dg.AssetExecutionContext) -> list[str]:
    return list(context.partition_keys)


def build_market_data_assets(partitions: dg.PartitionsDefinition) -> list:
    """The raw-data assets over ``partitions`` (built per deployment, never at import)."""

    @dg.asset(
        partitions_def=partitions,
        backfill_policy=SINGLE_RUN,
        metadata={"dataset": "trades"},
        group_name="market_data",
        kinds={"parquet"},
    )
    def raw_trades(context: dg.AssetExecutionContext, market_source: MarketSourceResource) -> dict[str, pa.Table]:
        """Raw trades of each day, validated against the contract, from the landing zone."""
        out = {d: market_source.read_day("trades", dt.date.fromisoformat(d)) for d in _days(context)}
        context.add_output_metadata(
            {"trades": sum(t.num_rows for t in out.values()), "source_has_ticks": market_source.has("trades")}
        )
        return out

    @dg.asset(
        partitions_def=partitions,
        backfill_policy=SINGLE_RUN,
        metadata={"dataset": "quotes"},
        group_name="market_data",
        kinds={"parquet"},
    )
    def raw_quotes(context: dg.AssetExecutionContext, market_source: MarketSourceResource) -> dict[str, pa.Table]:
        """Raw NBBO quotes of each day, validated against the contract, from the landing zone."""
        out = {d: market_source.read_day("quotes", dt.date.fromisoformat(d)) for d in _days(context)}
        context.add_output_metadata({"quotes": sum(t.num_rows for t in out.values())})
        return out

    @dg.asset(
        partitions_def=partitions,
        backfill_policy=SINGLE_RUN,
        metadata={"dataset": "bars_1m"},
        group_name="market_data",
        kinds={"parquet"},
        check_specs=[dg.AssetCheckSpec(n, asset="bars_1m") for n in CHECK_NAMES],
    )
    def bars_1m(
        context: dg.AssetExecutionContext,
        market_source: MarketSourceResource,
        raw_trades: dict[str, pa.Table],
        raw_quotes: dict[str, pa.Table],
    ):  # type: ignore[no-untyped-def]
        """1-minute bars: the day's ticks through the one aggregator (or vendor bars when there are no ticks)."""
        out: dict[str, pa.Table] = {}
        rejects = 0
        for d, trades in raw_trades.items():
            date = dt.date.fromisoformat(d)
            if trades.num_rows:
                halts = market_source.read_day("halts", date)
                out[d], rej = aggregate(trades, raw_quotes.get(d), halts)
                rejects += rej.num_rows
            else:  # bars-only source (vendor minute bars)
                out[d] = market_source.read_day("bars_1m", date)
        yield dg.Output(out, metadata={"bars": sum(t.num_rows for t in out.values()), "rejected_ticks": rejects})
        frame = pa.concat_tables(list(out.values())).to_pandas() if out else None
        for c in run_bar_checks(frame) if frame is not None else []:
            yield dg.AssetCheckResult(
                check_name=c.name,
                asset_key="bars_1m",
                passed=c.passed,
                metadata=c.metadata,
                severity=dg.AssetCheckSeverity.ERROR,
            )

    @dg.asset(metadata={"dataset": "corporate_actions"}, group_name="market_data", kinds={"parquet"})
    def corporate_actions(market_source: MarketSourceResource) -> pa.Table:
        """Splits and cash dividends by ex-date (empty when the source has none)."""
        src = market_source.source()
        from marketdata.schemas import CORPORATE_ACTIONS

        return src.read("corporate_actions") if src.exists("corporate_actions") else CORPORATE_ACTIONS.empty_table()

    @dg.asset(metadata={"dataset": "reference"}, group_name="market_data", kinds={"parquet"})
    def reference(market_source: MarketSourceResource) -> pa.Table:
        """Symbol reference: sector, market cap, ETF flag, leader ETF."""
        src = market_source.source()
        from marketdata.schemas import REFERENCE

        return src.read("reference") if src.exists("reference") else REFERENCE.empty_table()

    return [raw_trades, raw_quotes, bars_1m, corporate_actions, reference]
