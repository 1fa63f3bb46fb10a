"""Authentication: API token (header, query), OAuth bearer tokens, and the OAuth token endpoint."""

from __future__ import annotations

from typing import Any

import requests

from ml_connector.sandbox.runtime import RunningSandbox

UNAUTHORIZED = {
    "success": False,
    "error": "unauthorized access",
    "errorCode": 401,
    "error_info": "Please check developers.pipedrive.com",
}


def _refresh(sandbox: RunningSandbox, refresh_token: str, **kwargs: Any) -> requests.Response:
    creds = sandbox.config.pipedrive
    kwargs.setdefault("auth", (creds.client_id, creds.client_secret))
    data = kwargs.pop("data", {"grant_type": "refresh_token", "refresh_token": refresh_token})
    return requests.post(f"{sandbox.pipedrive_url}/oauth/token", data=data, timeout=5, **kwargs)


def test_api_token_in_header_or_query(fresh_sandbox: RunningSandbox) -> None:
    url = f"{fresh_sandbox.pipedrive_url}/api/v2/organizations"
    token = fresh_sandbox.config.pipedrive.api_token
    assert requests.get(url, headers={"x-api-token": token}, timeout=5).status_code == 200
    assert requests.get(url, params={"api_token": token}, timeout=5).status_code == 200
    for headers, params in (({}, {}), ({"x-api-token": "wrong"}, {}), ({}, {"api_token": "wrong"})):
        response = requests.get(url, headers=headers, params=params, timeout=5)
        assert response.status_code == 401 and response.json() == UNAUTHORIZED
    bearer_api_token = requests.get(url, headers={"authorization": f"Bearer {token}"}, timeout=5)
    assert bearer_api_token.status_code == 401 and bearer_api_token.json() == UNAUTHORIZED


def test_oauth_refresh_gives_a_bearer_token_for_the_api_domain(fresh_sandbox: RunningSandbox) -> None:
    creds = fresh_sandbox.config.pipedrive
    response = _refresh(fresh_sandbox, creds.refresh_token)
    assert response.status_code == 200, response.text
    token = response.json()
    assert token["token_type"] == "Bearer" and token["expires_in"] == fresh_sandbox.config.access_token_ttl_s
    assert token["api_domain"] == fresh_sandbox.pipedrive_url
    assert token["refresh_token"] == creds.refresh_token  # stable mode by default
    me = requests.get(
        f"{token['api_domain']}/v1/users/me",
        headers={"authorization": f"Bearer {token['access_token']}"},
        timeout=5,
    )
    assert me.status_code == 200 and me.json()["data"]["company_domain"] == creds.company_domain
    # Client credentials in the form body work as well (discouraged but accepted).
    body = {
        "grant_type": "refresh_token",
        "refresh_token": creds.refresh_token,
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
    }
    assert _refresh(fresh_sandbox, "", data=body, auth=None).status_code == 200


def test_oauth_errors(fresh_sandbox: RunningSandbox) -> None:
    creds = fresh_sandbox.config.pipedrive
    bad_grant = _refresh(fresh_sandbox, "1:1:not-a-token")
    assert bad_grant.status_code == 400
    assert bad_grant.json() == {
        "success": False,
        "message": "Invalid grant: refresh_token is invalid",
        "error": "invalid_grant",
    }
    wrong_client = _refresh(fresh_sandbox, creds.refresh_token, auth=(creds.client_id, "nope"))
    assert wrong_client.status_code == 401 and wrong_client.json()["error"] == "invalid_client"
    no_client = _refresh(fresh_sandbox, creds.refresh_token, auth=None)
    assert no_client.status_code == 401
    assert no_client.json()["message"] == "Invalid client: cannot retrieve client credentials"
    unsupported = _refresh(fresh_sandbox, "", data={"grant_type": "password"})
    assert unsupported.status_code == 400 and unsupported.json()["error"] == "unsupported_grant_type"
    as_json = requests.post(
        f"{fresh_sandbox.pipedrive_url}/oauth/token",
        json={"grant_type": "refresh_token", "refresh_token": creds.refresh_token},
        auth=(creds.client_id, creds.client_secret),
        timeout=5,
    )
    assert as_json.status_code == 400
    assert as_json.json()["message"] == "Invalid request: content must be application/x-www-form-urlencoded"


def test_rotation_consumes_the_old_refresh_token(fresh_sandbox: RunningSandbox) -> None:
    creds = fresh_sandbox.config.pipedrive
    requests.post(
        f"{fresh_sandbox.pipedrive_url}/_sandbox/oauth", json={"rotate": True}, timeout=5
    ).raise_for_status()
    first = _refresh(fresh_sandbox, creds.refresh_token).json()
    assert first["refresh_token"] != creds.refresh_token
    assert _refresh(fresh_sandbox, creds.refresh_token).json()["error"] == "invalid_grant"
    assert _refresh(fresh_sandbox, first["refresh_token"]).status_code == 200


def test_expired_access_token_is_rejected_with_the_gateway_401(fresh_sandbox: RunningSandbox) -> None:
    token = _refresh(fresh_sandbox, fresh_sandbox.config.pipedrive.refresh_token).json()["access_token"]
    url = f"{fresh_sandbox.pipedrive_url}/api/v2/persons"
    headers = {"authorization": f"Bearer {token}"}
    assert requests.get(url, headers=headers, timeout=5).status_code == 200
    control = f"{fresh_sandbox.pipedrive_url}/_sandbox/oauth"
    requests.post(control, json={"expire_access_tokens": True}, timeout=5).raise_for_status()
    expired = requests.get(url, headers=headers, timeout=5)
    assert expired.status_code == 401 and expired.json() == UNAUTHORIZED
