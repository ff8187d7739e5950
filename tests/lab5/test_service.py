"""The real-time service in-process (TestClient): routing, tenants, metrics, hostile bodies.
Reference-implementation checks (0 points; the graded specifications are in test_tasks.py)."""

from __future__ import annotations

import asyncio
import threading
import warnings

import httpx
import pytest

with warnings.catch_warnings():  # starlette prefers `httpx2`; see conftest
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from course_models import contract
from course_models.tabular import example_record
from lab5_batch_vs_realtime.routing import Router
from lab5_batch_vs_realtime.service import create_app
from lab5_batch_vs_realtime.settings import Settings
from lab5_batch_vs_realtime.tenants import publish_tenant_version

pytestmark = pytest.mark.points(0)


def body(entity: str = "customer-1", version: int = 2) -> dict:
    return {"entity_id": entity, "features": example_record(version)}


@pytest.fixture
def client(lab5_settings, tenant_registry):
    with TestClient(create_app(lab5_settings)) as c:
        yield c


def make_client(lab5_settings, **overrides) -> TestClient:
    return TestClient(create_app(lab5_settings.model_copy(update=overrides)))


def test_health_and_ready(client):
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.json()["versions"] == [1, 2]


def test_ready_is_503_with_the_reason_when_weights_name_a_missing_version(lab5_settings):
    with make_client(lab5_settings, ab_weights={1: 0.5, 7: 0.5}) as c:
        ready = c.get("/ready")
        assert ready.status_code == 503
        assert "[7]" in ready.json()["errors"][0]["message"]
        assert c.post("/predict", json=body()).status_code == 503


def test_ab_split_matches_weights_within_tolerance_and_is_sticky(lab5_settings):
    router = Router({1: 0.8, 2: 0.2}, (1, 2))
    n = 20_000
    share_v2 = sum(router.ab_version(f"customer-{i}") == 2 for i in range(n)) / n
    assert abs(share_v2 - 0.2) < 0.015, share_v2  # binomial sd ≈ 0.003
    with make_client(lab5_settings, ab_weights={1: 0.8, 2: 0.2}) as c:
        seen = {}
        for i in range(200):
            r = c.post("/predict", json=body(f"user-{i}"))
            assert r.status_code == 200, r.text
            assert r.headers["X-Model-Route"] == "ab"
            assert int(r.headers["X-Model-Version"]) == r.json()["model_version"]
            assert r.json()["model_version"] == router.ab_version(f"user-{i}")
            seen[f"user-{i}"] = r.json()["model_version"]
        assert set(seen.values()) == {1, 2}
        for entity, version in list(seen.items())[:50]:  # sticky: same id, same arm
            assert c.post("/predict", json=body(entity)).json()["model_version"] == version


def test_zero_weight_sends_everyone_to_the_other_arm(lab5_settings):
    with make_client(lab5_settings, ab_weights={1: 0.0, 2: 1.0}) as c:
        versions = {
            c.post("/predict", json=body(f"u{i}")).json()["model_version"] for i in range(30)
        }
        assert versions == {2}


def test_version_header_overrides_the_split(client):
    for version in (1, 2):
        for i in range(10):
            r = client.post(
                "/predict", json=body(f"u{i}"), headers={"X-Model-Version": str(version)}
            )
            assert r.status_code == 200
            assert r.headers["X-Model-Version"] == str(version)
            assert r.headers["X-Model-Route"] == "header"
            assert r.json()["route"] == "header"


@pytest.mark.parametrize(("header", "status"), [("7", 404), ("0", 404), ("two", 422), ("1.5", 422)])
def test_unknown_or_malformed_version_is_a_4xx_with_a_clear_message(client, header, status):
    r = client.post("/predict", json=body(), headers={"X-Model-Version": header})
    assert r.status_code == status
    assert header in str(r.json()["detail"])
    if status == 404:
        assert r.json()["available"] == [1, 2]


def test_bad_features_are_422_naming_the_field(client):
    bad = body()
    bad["features"]["contract"] = "forever"
    r = client.post("/predict", json=bad)
    assert r.status_code == 422
    assert "contract" in str(r.json()["detail"])
    missing = body()
    del missing["features"]["age"]
    assert "age" in str(client.post("/predict", json=missing).json()["detail"])


def test_v1_clients_can_call_v2_without_the_optional_feature(client):
    r = client.post("/predict", json=body(version=1), headers={"X-Model-Version": "2"})
    assert r.status_code == 200 and 0.0 <= r.json()["churn_probability"] <= 1.0


def test_tenant_models_load_on_first_use_evict_lru_and_reload_newer(client, lab5_settings):
    tenants = client.app.state.runtime.tenants
    assert tenants.loaded() == {}
    for tenant in ("acme", "globex"):
        r = client.post(f"/tenants/{tenant}/predict", json=body())
        assert r.status_code == 200, r.text
        assert r.headers["X-Tenant"] == tenant and r.headers["X-Model-Route"] == "tenant"
    assert tenants.loaded() == {"acme": 1, "globex": 1}
    client.post("/tenants/acme/predict", json=body())  # acme is now the most recently used
    client.post("/tenants/initech/predict", json=body())  # capacity 2: globex goes
    assert tenants.loaded() == {"acme": 1, "initech": 1}
    # A newer version appears on disk: the next request serves it.
    assert publish_tenant_version(lab5_settings.tenants_dir, "acme", 2) == 2
    r = client.post("/tenants/acme/predict", json=body())
    assert r.headers["X-Model-Version"] == "2" and r.json()["model_version"] == 2
    assert tenants.loaded()["acme"] == 2
    metrics = client.get("/metrics").text
    assert 'lab5_tenant_model_events_total{event="evict",tenant="globex"} 1.0' in metrics
    assert 'lab5_tenant_model_events_total{event="reload",tenant="acme"} 1.0' in metrics


def test_tenant_models_give_their_own_models_answers(client):
    """acme is a copy of churn v1, globex of churn v2: the same request scores differently."""
    headers = {"X-Model-Version": "1"}
    v1 = client.post("/predict", json=body(), headers=headers).json()["churn_probability"]
    v2 = client.post("/predict", json=body(), headers={"X-Model-Version": "2"}).json()
    assert client.post("/tenants/acme/predict", json=body()).json()["churn_probability"] == v1
    globex = client.post("/tenants/globex/predict", json=body()).json()
    assert globex["churn_probability"] == v2["churn_probability"]


def test_unknown_tenant_is_404_with_a_clear_message(client):
    r = client.post("/tenants/nosuch/predict", json=body())
    assert r.status_code == 404
    detail = r.json()["detail"]
    assert "nosuch" in detail and "acme" in detail  # says what exists
    assert client.post("/tenants/..%2Fetc/predict", json=body()).status_code in (404, 422)
    assert client.post("/tenants/UPPER/predict", json=body()).status_code == 422


def test_a_slow_tenant_load_does_not_block_other_tenants(lab5_settings, tenant_registry):
    """acme's load is held until globex has been served: if loading blocked other tenants,
    globex's request could not finish first and the test would time out."""
    app = create_app(lab5_settings)
    tenants = app.state.runtime.tenants
    started, release = threading.Event(), threading.Event()
    order: list[str] = []
    real_load = tenants._load

    def gated_load(tenant, version):
        if tenant == "acme":
            started.set()
            assert release.wait(30), "acme's load was never released"
        order.append(f"loaded {tenant}")
        return real_load(tenant, version)

    tenants._load = gated_load

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://lab5") as c:
            slow = asyncio.create_task(c.post("/tenants/acme/predict", json=body()))
            # acme's load is under way (holding its tenant lock) before globex asks
            assert await asyncio.to_thread(started.wait, 30), "acme's load never started"
            fast = await asyncio.wait_for(c.post("/tenants/globex/predict", json=body()), 20)
            order.append("served globex")
            release.set()
            return fast, await asyncio.wait_for(slow, 30)

    fast, slow = asyncio.run(scenario())
    assert fast.status_code == slow.status_code == 200
    assert order == ["loaded globex", "served globex", "loaded acme"]


def test_prometheus_metrics_per_version_route_and_tenant(client):
    client.post("/predict", json=body(), headers={"X-Model-Version": "1"})
    client.post("/tenants/globex/predict", json=body())
    text = client.get("/metrics").text
    assert 'lab5_predictions_total{route="header",tenant="",version="1"} 1.0' in text
    assert 'lab5_predictions_total{route="tenant",tenant="globex",version="1"} 1.0' in text
    assert 'lab5_prediction_seconds_count{tenant="globex",version="1"} 1.0' in text


def test_requests_are_counted_by_route_template_and_status(client):
    """What the SLA error-ratio rule (deploy/prometheus/rules.yml) divides."""
    assert client.post("/predict", json=body()).status_code == 200
    assert client.post("/predict", json={**body(), "features": {"age": "34"}}).status_code == 422
    assert client.post("/tenants/globex/predict", json=body()).status_code == 200
    text = client.get("/metrics").text
    assert 'lab5_requests_total{route="/predict",status="200"} 1.0' in text
    assert 'lab5_requests_total{route="/predict",status="422"} 1.0' in text
    # The template, not the tenant's name: labels stay bounded however many tenants call.
    assert 'lab5_requests_total{route="/tenants/{tenant}/predict",status="200"} 1.0' in text


def test_shadow_mode_answers_with_a_and_scores_b_after(lab5_settings):
    with make_client(lab5_settings, ab_weights={2: 1.0}, shadow_version=1) as c:
        for i in range(5):
            r = c.post("/predict", json=body(f"u{i}"))
            assert r.headers["X-Model-Version"] == "2" and r.headers["X-Shadow-Version"] == "1"
        text = c.get("/metrics").text
        shadow = [ln for ln in text.splitlines() if ln.startswith("lab5_shadow_predictions_total{")]
        assert sum(float(ln.rsplit(" ", 1)[1]) for ln in shadow) == 5.0
        assert 'lab5_predictions_total{route="ab",tenant="",version="1"}' not in text


def test_settings_read_weights_from_the_environment(monkeypatch):
    monkeypatch.setenv("LAB5_AB_WEIGHTS", '{"1": 0.9, "2": 0.1}')
    assert Settings().ab_weights == {1: 0.9, 2: 0.1}
    monkeypatch.setenv("LAB5_AB_WEIGHTS", '{"1": 0}')
    with pytest.raises(ValueError, match="positive weight"):
        Settings()


def _enveloped(raw: bytes) -> bytes:
    """A hostile feature body inside lab 5's envelope, bytes untouched (NaN stays NaN)."""
    return b'{"entity_id": "hostile", "features": ' + raw + b"}"


@pytest.mark.parametrize("case", contract.hostile_bodies(2), ids=lambda c: c.name)
@pytest.mark.parametrize("route", ["/predict", "/tenants/acme/predict"])
def test_hostile_bodies_get_the_contract_status_as_json(client, case, route):
    r = client.post(
        route, content=_enveloped(case.body), headers={"content-type": case.content_type}
    )
    assert r.status_code == case.expected_status, (case.name, r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/json")
    if case.expected_status in (400, 422):  # the field is named (inside the envelope)
        field = "features" if (case.expected_status, case.field) == (422, "body") else case.field
        assert any(field in e["field"] for e in r.json()["errors"]), r.json()


@pytest.mark.parametrize("chunked", [False, True])
def test_oversized_bodies_are_413_json_whatever_the_framing(client, lab5_settings, chunked):
    big = b'{"entity_id": "' + b"x" * (lab5_settings.max_body_bytes + 10) + b'"}'
    content = iter([big[:1000], big[1000:]]) if chunked else big
    r = client.post("/predict", content=content, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["reason"] == "body_too_large"


def test_a_stubbed_task_answers_501_json_naming_it(client, monkeypatch):
    from course_models.tasks import TaskNotImplemented
    from lab5_batch_vs_realtime.routing import Router

    def stub(self, entity_id, header):
        raise TaskNotImplemented("5.1", "version routing")

    monkeypatch.setattr(Router, "choose", stub)
    r = client.post("/predict", json=body())
    assert r.status_code == 501
    assert r.json() == {"error": "task 5.1 not implemented: version routing", "task": "5.1"}


def test_unknown_cli_flags_are_rejected(capsys):
    from lab5_batch_vs_realtime.__main__ import main

    with pytest.raises(SystemExit) as exc:
        main(["batch", "--date", "2026-11-24", "--chunk-row", "5"])
    assert exc.value.code == 2 and "--chunk-row" in capsys.readouterr().err


def test_settings_have_bounds_and_literals(monkeypatch):
    monkeypatch.setenv("LAB5_PORT", "70000")
    with pytest.raises(ValueError, match="port"):
        Settings()
    monkeypatch.delenv("LAB5_PORT")
    monkeypatch.setenv("LAB5_LOG_LEVEL", "loud")
    with pytest.raises(ValueError, match="log_level"):
        Settings()
    monkeypatch.delenv("LAB5_LOG_LEVEL")
    monkeypatch.setenv("LAB5_AIRFLOW_PORT", "18085")
    assert Settings().airflow_port == 18085


def test_ready_is_503_scorer_mismatch_when_the_fast_scorer_disagrees(lab5_settings, monkeypatch):
    import course_models.scoring as shared_scoring

    # A bound no difference can meet (even 0): the loader's check refuses every churn model.
    monkeypatch.setattr(shared_scoring, "TOLERANCE", -1.0)
    with make_client(lab5_settings) as c:
        ready = c.get("/ready")
        assert ready.status_code == 503 and ready.json()["reason"] == "scorer_mismatch"
        reasons = [e["reason"] for e in ready.json()["errors"]]
        assert reasons.count("scorer_mismatch") == 2, reasons  # v1 and v2 both refused
        refused = c.post("/predict", json=body())
        assert refused.status_code == 503 and refused.json()["reason"] == "scorer_mismatch"


def test_pipeline_scorer_setting_gives_the_same_numbers(lab5_settings):
    answers = {}
    for mode in ("fast", "pipeline"):
        with make_client(lab5_settings, scorer=mode) as c:
            r = c.post("/predict", json=body(), headers={"X-Model-Version": "2"})
            assert r.status_code == 200, r.text
            answers[mode] = r.json()["churn_probability"]
    assert answers["fast"] == answers["pipeline"]
