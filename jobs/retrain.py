"""weekly_retrain_job and its schedule: labels -> training set -> model (gated) -> champion, evaluation."""

import datetime as dt
from typing import Any

import dagster as dg

RETRAIN_ASSETS = ["triple_barrier_labels", "training_dataset", "direction_model", "champion_model", "model_evaluation"]


def build_retrain_job(partitions: dg.PartitionsDefinition) -> Any:
    return dg.define_asset_job(
        "weekly_retrain_job",
        selection=dg.AssetSelection.assets(*RETRAIN_ASSETS),
        partitions_def=partitions,
        description="Retrain on the rolling window ending at the partition; promote via gate.",
    )


def latest_partition(partitions: dg.TimeWindowPartitionsDefinition, now: dt.datetime) -> str | None:
    """The most recent trading day before ``now``'s date (its session is over; a Friday partition's time window
    only closes on Monday, so the window end is not the test)."""
    keys = [
        k
        for k in partitions.get_partition_keys(current_time=now + dt.timedelta(days=7))
        if dt.date.fromisoformat(k) < now.date()
    ]
    return keys[-1] if keys else None


def build_retrain_schedule(job: Any, partitions: dg.TimeWindowPartitionsDefinition, cron: str) -> dg.ScheduleDefinition:
    @dg.schedule(name="weekly_retrain_schedule", cron_schedule=cron, job=job, execution_timezone="UTC")
    def weekly_retrain_schedule(context: dg.ScheduleEvaluationContext):  # type: ignore[no-untyped-def]
        key = latest_partition(partitions, context.scheduled_execution_time)
        if key is None:
            return dg.SkipReason("no trading-day partition has ended yet")
        return dg.RunRequest(run_key=f"weekly-{key}", partition_key=key)

    return weekly_retrain_schedule


def build_drift_schedule(job: Any, partitions: dg.TimeWindowPartitionsDefinition, cron: str) -> dg.ScheduleDefinition:
    """Every trading day after the close: the day's drift report (which the drift sensors then judge)."""

    @dg.schedule(name="daily_drift_schedule", cron_schedule=cron, job=job, execution_timezone="UTC")
    def daily_drift_schedule(context: dg.ScheduleEvaluationContext):  # type: ignore[no-untyped-def]
        key = latest_partition(partitions, context.scheduled_execution_time + dt.timedelta(days=1))
        if key is None:
            return dg.SkipReason("no trading-day partition has ended yet")
        return dg.RunRequest(run_key=f"drift-{key}", partition_key=key)

    return daily_drift_schedule
