import pytest

from serving import flink_cluster


@pytest.fixture
def flink_jobs(flink_url):  # type: ignore[no-untyped-def]
    """The ids of the jobs a test submits: those still running when it ends (it failed midway) are cancelled, so
    the next test finds the cluster's slots free."""
    started: list[str] = []
    yield started
    live = {
        j["id"]
        for j in flink_cluster.overview(flink_url)["jobs"]
        if j["state"] not in ("FINISHED", "CANCELED", "FAILED")
    }
    for job_id in started:
        if job_id in live:
            flink_cluster.cancel(flink_url, job_id)
