"""A whole session on real servers with faults (scripts/session_with_faults.py, CI-sized): the scorer killed with
SIGKILL and restarted, Redis stopped for 30 s, the broker restarted — the signals equal an uninterrupted run's, no
minute lost or served twice, and each fault's delay gone within a minute."""

import pytest

from scripts.session_with_faults import run

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_session_with_a_kill_a_redis_outage_and_a_broker_restart_serves_every_minute_once(kafka_bootstrap):
    res = run(symbols=20, speed=120, seed=3, log=print)
    assert res["minutes_twice"] == 0, res
    assert res["minutes_published"] >= res["minutes_expected"], res
    assert res["signals_equal"], res
    assert all(v is not None and v < 60 for v in res["recovery_s"].values()), res["recovery_s"]
