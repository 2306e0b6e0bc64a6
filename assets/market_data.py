"""Raw-data assets: raw_trades, raw_quotes, bars_1m (daily), corporate_actions and reference."""

import datetime as dt

import dagster as dg
import pyarrow as pa

from assets.bar_checks import CHECK_NAMES, BarTally
from marketdata.aggregate import aggregate
from marketdata.rejects import AGGREGATOR, quarantine, replace_rejects
from marketdata.validate import align
from orchestration.io_manager import write_day, written
from orchestration.resources import LakeResource, MarketSourceResource

SINGLE_RUN = dg.BackfillPolicy.single_run()


def _days(context: dg.AssetExecutionContext) -> list[str]:
    return list(context.partition_keys)


def build_market_data_assets(partitions: dg.PartitionsDefinition) -> list:
    """The raw-data assets over ``partitions`` (built per deployment, never at import)."""

    def landed(kind: str, doc: str):  # type: ignore[no-untyped-def]
        @dg.asset(
            name=f"raw_{kind}",
            partitions_def=partitions,
            backfill_policy=SINGLE_RUN,
            metadata={"dataset": kind},
            group_name="market_data",
            kinds={"parquet"},
            description=doc,
        )
        def raw(  # type: ignore[no-untyped-def]
            context: dg.AssetExecutionContext, market_source: MarketSourceResource, lake: LakeResource
        ):
            lk, rows, aside = lake.lake(), {}, {}
            for d in _days(context):  # a day at a time: a range of any length holds one day of ticks
                # a row that breaks the contract is set aside in rejects with its reason (source landing:<kind>),
                # never failing the day nor landing; its rejects are written once the day's rows have
                q = quarantine(
                    align(market_source.read_day(kind, dt.date.fromisoformat(d)), kind), kind, f"landing:{kind}"
                )
                rows[d] = write_day(lk, kind, d, q.kept)
                q.write(lk)
                aside[d] = q.rejects.num_rows
            info = {"source_has_ticks": market_source.has(kind)} if kind == "trades" else {}
            return dg.Output(written(context, rows, set_aside=aside), metadata=info)

        return raw

    raw_trades = landed("trades", "Raw trades of each day from the landing zone (rows breaking the contract: rejects).")
    raw_quotes = landed(
        "quotes", "Raw NBBO quotes of each day from the landing zone (rows breaking the contract: rejects)."
    )

    @dg.asset(
        partitions_def=partitions,
        backfill_policy=SINGLE_RUN,
        metadata={"dataset": "bars_1m"},
        group_name="market_data",
        kinds={"parquet"},
        deps=["raw_trades", "raw_quotes"],
        check_specs=[dg.AssetCheckSpec(n, asset="bars_1m", description=d) for n, d in CHECK_NAMES.items()],
    )
    def bars_1m(  # type: ignore[no-untyped-def]
        context: dg.AssetExecutionContext, market_source: MarketSourceResource, lake: LakeResource
    ):
        """1-minute bars: the day's ticks through the one aggregator (or vendor bars when there are no ticks).

        A day at a time: read its ticks from the lake, aggregate, write the bars and the refused ticks (``rejects``,
        each with its reason), add to the checks' sums."""
        lk, rows, rejects, tally = lake.lake(), {}, {}, BarTally()
        for d in _days(context):
            date = dt.date.fromisoformat(d)
            trades = lk.read("trades", [date])
            if trades.num_rows:
                quotes = lk.read("quotes", [date]) if date in lk.dates("quotes") else None
                bars, rej = aggregate(trades, quotes, market_source.read_day("halts", date))
                # the aggregator's rows of the day, replaced on a re-run (never stale; an ingest's stay)
                rejects[d] = replace_rejects(lk, date, rej, AGGREGATOR)
            else:  # bars-only source (vendor minute bars)
                bars = market_source.read_day("bars_1m", date)
            del trades
            rows[d] = write_day(lk, "bars_1m", d, bars)
            tally.add(bars.to_pandas())
        yield dg.Output(written(context, rows, rejected_ticks=rejects))
        for c in tally.outcomes():
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
