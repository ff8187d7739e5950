"""The README's faults, injected for real and bounded in time and size (the same experiments as
`make chaos-2`): a restarted redis-server, SIGKILLed workers, oversized and chunked bodies."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.points(0)
def test_redis_restart_mid_run_answers_every_job_once(restart_outcome):
    out = restart_outcome
    assert out["in_flight_at_stop"], out  # the fault hit a running job
    assert out["api_503_while_down"], out
    assert out["success"] == out["correct"] == out["answered_once"] == out["jobs"], out


@pytest.mark.points(0)
def test_sigkilled_worker_is_reported_gone_then_redelivered(sigkill_outcome):
    out = sigkill_outcome
    assert out["status_while_gone"]["status"] == "started", out
    assert out["status_while_gone"]["worker_alive"] is False and "note" in out["status_while_gone"]
    assert out["final_status"] == "success" and out["correct"] and out["ran_by_worker2"], out


@pytest.mark.points(0)
def test_pool_child_kill_requeues_to_the_back(pool_kill_outcome):
    out = pool_kill_outcome
    assert out["all_success"] and out["worker_survived"] and out["worker_lost_logged"], out
    # kombu restores a rejected message with LPUSH, the end new messages are published to:
    # the job runs after everything that was queued behind it (README, "What to observe").
    assert out["victim_finished_position"] == out["of"], out
