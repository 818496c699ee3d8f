"""The Heroku API client against the stand-in: headers, error lines, retries, pagination."""

from __future__ import annotations

import pytest

from appwrite_heroku.clock import SYSTEM, Clock
from appwrite_heroku.errors import EXIT_PLATFORM, EXIT_USAGE, InputError, PlatformError
from appwrite_heroku.release.heroku_api import TOKEN_REFILL_SECONDS, HerokuClient, make_retry
from helpers import CANARY_API_KEY
from standins.clock import SkippingClock
from standins.heroku import HerokuStandIn

APP = "api-test-app"


@pytest.fixture
def standin(heroku_api_standin: HerokuStandIn) -> HerokuStandIn:
    heroku_api_standin.create_app(APP, config_vars={"FOO": "bar"},
                                  formation={"web": {"quantity": 1, "size": "basic"}})
    return heroku_api_standin


def client(standin: HerokuStandIn, key: str = CANARY_API_KEY, app: str = APP,
           clock: Clock = SYSTEM) -> HerokuClient:
    return HerokuClient(api_key=key, api_url=standin.url, app=app, timeout=1.0,
                        retry=make_retry(backoff_factor=0.01), clock=clock)


def test_headers_and_one_request_id_per_request(standin: HerokuStandIn) -> None:
    api = client(standin)
    assert api.get_app(APP)["name"] == APP
    assert api.config_vars(APP) == {"FOO": "bar"}
    first, second = standin.requests
    for recorded in (first, second):
        headers = {k.lower(): v for k, v in recorded.headers.items()}
        assert headers["accept"] == "application/vnd.heroku+json; version=3"
        assert headers["user-agent"].startswith("appwrite-heroku/")
        assert headers["authorization"] == "****"  # present (masked by the stand-in's record)
    ids = [{k.lower(): v for k, v in r.headers.items()}["request-id"] for r in standin.requests]
    assert len(set(ids)) == 2
    assert api.ratelimit_remaining is not None
    assert standin.schema_violations == []


def test_the_key_goes_to_the_api_host_only(standin: HerokuStandIn) -> None:
    api = client(standin)
    api.raw("GET", standin.router_url + "/v1/health/version", headers={"Host": "x.example"})
    headers = {k.lower() for k in standin.router_requests[-1].headers}
    assert "authorization" not in headers


@pytest.mark.parametrize(("key", "app", "status", "words"), [
    ("wrong-key-0000", APP, 401, "heroku authorizations:create"),
    (CANARY_API_KEY, "no-such-app", 404, "Heroku has no app 'no-such-app'"),
])
def test_errors_are_one_line_with_the_fix(standin: HerokuStandIn, key: str, app: str,
                                          status: int, words: str) -> None:
    api = client(standin, key=key, app=app)
    with pytest.raises(InputError) as caught:
        api.get_app(app)
    message = str(caught.value)
    assert words in message and "\n" not in message
    assert caught.value.exit_status == EXIT_USAGE
    assert getattr(caught.value, "status", None) == status
    assert "wrong-key-0000" not in message and CANARY_API_KEY not in message


def test_404_of_another_resource_is_not_called_a_missing_app(standin: HerokuStandIn) -> None:
    with pytest.raises(InputError, match="no such resource") as caught:
        client(standin).release(APP, "99999")
    assert "Heroku has no app" not in str(caught.value)


def test_422_carries_herokus_message(standin: HerokuStandIn) -> None:
    api = client(standin)
    with pytest.raises(InputError, match="422 invalid_params"):
        api.patch_config_vars(APP, {"BAD-KEY": "x"})
    standin.schema_violations.clear()  # this one was provoked on purpose


def test_range_pagination_visits_every_release_once(standin: HerokuStandIn) -> None:
    app = standin.app(APP)
    for i in range(260):
        app.create_release(f"release {i}", phase=False)
    api = client(standin)
    releases = api.releases(APP)
    versions = [r["version"] for r in releases]
    assert len(versions) == len(set(versions)) == len(app.releases)
    assert versions == sorted(versions, reverse=True)
    assert any(r.status == 206 for r in standin.requests)
    assert api.newest_release(APP)["version"] == versions[0]  # type: ignore[index]


def test_429_is_retried_even_for_post_and_honours_retry_after(
        standin: HerokuStandIn, skipping_clock: SkippingClock) -> None:
    api = client(standin, clock=skipping_clock.clock)
    target = standin.app(APP).releases[0]["id"]
    standin.inject("429", count=2, path=r"/releases$", method="POST", retry_after=7)
    release = api.rollback(APP, target)
    assert release["description"].startswith("Rollback to v1")
    posts = standin.api_requests("POST", r"/releases$")
    assert [r.status for r in posts] == [429, 429, 201]
    # Both waits were Retry-After's 7 s, on the client's clock (so none was slept for real).
    assert skipping_clock.skipped == pytest.approx(14)


def test_post_is_not_retried_on_5xx_or_drops(standin: HerokuStandIn) -> None:
    api = client(standin)
    target = standin.app(APP).releases[0]["id"]
    standin.inject("500", count=1, path=r"/releases$", method="POST")
    with pytest.raises(PlatformError) as caught:
        api.rollback(APP, target)
    assert caught.value.exit_status == EXIT_PLATFORM
    assert len(standin.api_requests("POST", r"/releases$")) == 1
    standin.inject("drop", count=1, path=r"/releases$", method="POST")
    with pytest.raises(PlatformError, match="failed after retries"):
        api.rollback(APP, target)
    assert len(standin.api_requests("POST", r"/releases$")) == 2


@pytest.mark.slow  # two stalls outlast the client's real socket timeout (1 s each)
def test_idempotent_calls_survive_5xx_drops_and_stalls(standin: HerokuStandIn) -> None:
    api = client(standin)
    standin.inject("503", count=2, path=r"/config-vars$", method="PATCH")
    standin.inject("drop", count=1, path=r"/config-vars$", method="PATCH")
    standin.inject("stall", count=1, path=r"/config-vars$", method="PATCH", seconds=1.5)
    assert api.patch_config_vars(APP, {"FOO": "baz"})["FOO"] == "baz"
    standin.inject("stall", count=1, path=r"/config-vars$", method="GET", seconds=1.5)
    assert api.config_vars(APP)["FOO"] == "baz"
    assert standin.schema_violations == []


def test_rate_limit_exhausted_after_retries_is_a_platform_error(
        standin: HerokuStandIn, skipping_clock: SkippingClock) -> None:
    api = client(standin, clock=skipping_clock.clock)
    standin.inject("429", count=100, path=r"^/apps/")
    with pytest.raises(PlatformError, match="rate limit"):
        api.get_app(APP)
    assert len(standin.requests) == 9  # the first try and 8 retries
    assert skipping_clock.skipped > 0  # their backoff was waited on the client's clock


def test_empty_pool_paces_calls(standin: HerokuStandIn, skipping_clock: SkippingClock) -> None:
    standin.set_rate_limit(size=2, refill_per_second=5)
    api = client(standin, clock=skipping_clock.clock)
    for _ in range(6):
        api.config_vars(APP)
    statuses = [r.status for r in standin.requests]
    assert statuses.count(200) == 6
    # Every call after the pool ran low waited one token's refill time, on the client's
    # clock, and so never met a 429.
    assert 429 not in statuses
    assert skipping_clock.skipped == pytest.approx(5 * TOKEN_REFILL_SECONDS)
