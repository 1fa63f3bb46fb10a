"""The shared control plane over real HTTP: stats, faults of every kind, reset and OAuth switches."""

from __future__ import annotations

import pytest
import requests


def test_stats_count_api_calls_by_route_template_and_status(probe_server: str) -> None:
    for i in range(3):
        assert requests.get(f"{probe_server}/items/{i}", timeout=5).status_code == 200
    assert requests.get(f"{probe_server}/nowhere", timeout=5).status_code == 404
    stats = requests.get(f"{probe_server}/_sandbox/stats", timeout=5).json()
    assert stats["requests_total"] == 4
    assert stats["by_route"] == {"GET /items/{item_id}": 3, "GET <unmatched>": 1}
    assert stats["by_status"] == {"200": 3, "404": 1}


def test_status_fault_hits_only_the_next_n_matching_requests(probe_server: str) -> None:
    fault = {"route": "GET /items/{item_id}", "count": 2, "kind": "status", "status": 503}
    requests.post(f"{probe_server}/_sandbox/faults", json=fault, timeout=5).raise_for_status()
    codes = [requests.get(f"{probe_server}/items/1", timeout=5).status_code for _ in range(3)]
    assert codes == [503, 503, 200]


def test_status_fault_with_custom_body(probe_server: str) -> None:
    fault = {"kind": "status", "status": 403, "body": "<html>blocked</html>", "content_type": "text/html"}
    requests.post(f"{probe_server}/_sandbox/faults", json=fault, timeout=5).raise_for_status()
    response = requests.get(f"{probe_server}/items/1", timeout=5)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert response.text == "<html>blocked</html>"


def test_drop_fault_closes_the_connection_without_a_response(probe_server: str) -> None:
    requests.post(f"{probe_server}/_sandbox/faults", json={"kind": "drop"}, timeout=5).raise_for_status()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{probe_server}/items/1", timeout=5)
    assert requests.get(f"{probe_server}/items/1", timeout=5).status_code == 200


def test_malformed_fault_truncates_the_real_body(probe_server: str) -> None:
    requests.post(f"{probe_server}/_sandbox/faults", json={"kind": "malformed"}, timeout=5).raise_for_status()
    response = requests.get(f"{probe_server}/items/1", timeout=5)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


def test_delay_and_expired_token_faults(probe_server: str) -> None:
    faults = [{"kind": "delay", "delay_ms": 50}, {"kind": "expired_token"}]
    requests.post(f"{probe_server}/_sandbox/faults", json=faults, timeout=5).raise_for_status()
    delayed = requests.get(f"{probe_server}/items/1", timeout=5)
    assert delayed.status_code == 200 and delayed.elapsed.total_seconds() >= 0.05
    assert requests.get(f"{probe_server}/items/1", timeout=5).status_code == 401


def test_invalid_fault_is_rejected_with_the_reason(probe_server: str) -> None:
    response = requests.post(f"{probe_server}/_sandbox/faults", json={"kind": "explode"}, timeout=5)
    assert response.status_code == 400
    assert "kind" in response.json()["error"]


def test_reset_clears_stats_faults_and_oauth_state(probe_server: str) -> None:
    requests.get(f"{probe_server}/items/1", timeout=5)
    requests.post(f"{probe_server}/_sandbox/faults", json={"count": 5}, timeout=5)
    requests.post(f"{probe_server}/_sandbox/oauth", json={"rotate": True, "ttl_s": 5}, timeout=5)
    requests.post(f"{probe_server}/_sandbox/reset", timeout=5).raise_for_status()
    assert requests.get(f"{probe_server}/_sandbox/stats", timeout=5).json()["requests_total"] == 0
    assert requests.get(f"{probe_server}/_sandbox/faults", timeout=5).json() == {"faults": []}
    oauth = requests.get(f"{probe_server}/_sandbox/oauth", timeout=5).json()
    assert oauth["refresh_count"] == 0


def test_fault_can_let_the_first_requests_through(probe_server: str) -> None:
    fault = {"route": "GET /items/{item_id}", "after": 2, "count": 2, "kind": "status", "status": 502}
    requests.post(f"{probe_server}/_sandbox/faults", json=fault, timeout=5).raise_for_status()
    codes = [requests.get(f"{probe_server}/items/1", timeout=5).status_code for _ in range(5)]
    assert codes == [200, 200, 502, 502, 200]
