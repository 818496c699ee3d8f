"""The Heroku stand-in refuses what api.heroku.com refuses and behaves like it where the release
engine depends on it: config vars, releases and their Range pagination, the release phase's
life (404 → streamed lines → pending linger → succeeded/failed), rollback, rate limiting, fault
injection and the router."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
import requests

from helpers import CANARY_API_KEY
from standins.clock import SkippingClock
from standins.heroku import HerokuStandIn

ACCEPT = "application/vnd.heroku+json; version=3"
DOCKER = "application/vnd.heroku+json; version=3.docker-releases"


@pytest.fixture
def standin(heroku_api_standin: HerokuStandIn) -> HerokuStandIn:
    return heroku_api_standin


def api(
    standin: HerokuStandIn, method: str, path: str, *, accept: str = ACCEPT,
    key: str = CANARY_API_KEY, headers: dict[str, str] | None = None, **kwargs: Any,
) -> requests.Response:
    return requests.request(
        method, standin.url + path, timeout=5,
        headers={"Accept": accept, "Authorization": f"Bearer {key}", **(headers or {})},
        **kwargs,
    )


def health(standin: HerokuStandIn, host: str) -> requests.Response:
    return requests.get(standin.router_url + "/v1/health/version", headers={"Host": host},
                        timeout=5)


# ---- what the real API refuses -------------------------------------------------------------

def test_accept_header_must_name_version_3(standin: HerokuStandIn) -> None:
    standin.create_app("my-app")
    for accept in ("application/json", "application/vnd.heroku+json", "*/*"):
        response = api(standin, "GET", "/apps/my-app", accept=accept)
        assert response.status_code == 406
        assert response.json()["id"] == "not_acceptable"
    assert len(standin.schema_violations) == 3, "a missing version is a client bug"
    for accept in (ACCEPT, DOCKER, "application/vnd.heroku+json; version=3.cedar-acm",
                   f"application/json, {ACCEPT}"):
        assert api(standin, "GET", "/apps/my-app", accept=accept).status_code == 200
    assert len(standin.schema_violations) == 3


def test_heroku3_client_works_against_it(standin: HerokuStandIn) -> None:
    """heroku3 sends Basic auth, `version=3.cedar-acm` and `Range: version ..; order=desc,max=1;`
    and checks the key with /account/rate-limits."""
    from heroku3.api import Heroku

    standin.create_app("my-app", config_vars={"A": "1"})
    session = requests.Session()
    session.trust_env = False
    client = Heroku(session=session)
    client._heroku_url = standin.url
    assert client.authenticate(CANARY_API_KEY) is True
    app = client.app("my-app")
    app.config().update({"B": "2"})
    newest = app.releases(order_by="version", sort="desc", limit=1)
    assert [(r.version, r.description) for r in newest] == [(2, "Set B config var")]
    assert standin.schema_violations == [] and standin.unimplemented == []


def test_credentials_are_checked(standin: HerokuStandIn) -> None:
    standin.create_app("my-app")
    response = api(standin, "GET", "/apps/my-app", key="wrong")
    assert response.status_code == 401
    assert set(response.json()) == {"id", "message", "url"}
    assert response.json()["id"] == "unauthorized"
    no_auth = requests.get(standin.url + "/apps/my-app", headers={"Accept": ACCEPT}, timeout=5)
    assert no_auth.status_code == 401
    basic = base64.b64encode(f":{CANARY_API_KEY}".encode()).decode()
    assert api(standin, "GET", "/apps/my-app",
               headers={"Authorization": f"Basic {basic}"}).status_code == 200


def test_unknown_path_and_bad_identities_are_404_violations(standin: HerokuStandIn) -> None:
    standin.create_app("my-app")
    assert api(standin, "GET", "/apps/my-app/dynos-and-more").status_code == 404
    assert api(standin, "GET", "/apps/My_App").status_code == 404
    assert api(standin, "GET", "/apps/my-app/releases/latest").status_code == 404
    assert len(standin.schema_violations) == 3
    # A well-formed request for something that does not exist is not the client's bug.
    assert api(standin, "GET", "/apps/no-such-app").json()["id"] == "not_found"
    assert api(standin, "GET", "/apps/my-app/releases/99").status_code == 404
    assert len(standin.schema_violations) == 3


@pytest.mark.parametrize(
    "body",
    [{"A-B": "x"}, {"A": 1}, {"A": True}, {"A": ["x"]}, ["A"]],
    ids=["dash-in-key", "int-value", "bool-value", "list-value", "not-an-object"],
)
def test_config_vars_outside_the_schema_are_refused(
    standin: HerokuStandIn, body: object
) -> None:
    app = standin.create_app("my-app", config_vars={"KEEP": "1"})
    response = api(standin, "PATCH", "/apps/my-app/config-vars", json=body)
    assert response.status_code == 422
    assert response.json()["id"] == "invalid_params"
    assert len(standin.schema_violations) == 1
    assert app.config_vars == {"KEEP": "1"}
    assert len(app.releases) == 1


def test_body_fields_not_in_the_schema_are_refused(standin: HerokuStandIn) -> None:
    app = standin.create_app("my-app")
    first = app.releases[0]["id"]
    extra = api(standin, "POST", "/apps/my-app/releases",
                json={"release": first, "description": "why"})
    assert extra.status_code == 422
    formation = api(standin, "PATCH", "/apps/my-app/formation",
                    json={"updates": [{"type": "web", "docker_image": "sha256:" + "a" * 64}]})
    assert formation.status_code == 422, "docker_image needs the docker-releases variant"
    assert "docker_image" in formation.json()["message"]
    not_json = api(standin, "PATCH", "/apps/my-app/config-vars", data=b"{nope",
                   headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400
    assert len(standin.schema_violations) == 3
    assert len(app.releases) == 1


def test_unimplemented_endpoints_say_so_without_blaming_the_client(
    standin: HerokuStandIn,
) -> None:
    standin.create_app("my-app")
    response = api(standin, "DELETE", "/apps/my-app")
    assert response.status_code == 501
    assert standin.unimplemented == ["DELETE /apps/my-app"]
    assert standin.schema_violations == []


# ---- apps, config vars, releases --------------------------------------------------------------

def test_docker_release_needs_the_container_stack(standin: HerokuStandIn) -> None:
    app = standin.create_app("slug-app", stack="heroku-24")
    response = api(standin, "PATCH", "/apps/slug-app/formation", accept=DOCKER,
                   json={"updates": [{"type": "web", "docker_image": "sha256:" + "a" * 64}]})
    assert response.status_code == 422 and "container stack" in response.json()["message"]
    assert len(app.releases) == 1


def test_formation_scales_known_process_types(standin: HerokuStandIn) -> None:
    app = standin.create_app("my-app", images={"web": "sha256:" + "1" * 64,
                                               "worker": "sha256:" + "2" * 64})
    assert [(f["type"], f["quantity"]) for f in app.formation] == [("web", 1), ("worker", 0)]
    batch = api(standin, "PATCH", "/apps/my-app/formation",
                json={"updates": [{"type": "worker", "quantity": 2,
                                   "dyno_size": {"name": "standard-2X"}}]})
    assert batch.status_code == 200
    refused = api(standin, "PATCH", "/apps/my-app/formation",
                  json={"updates": [{"type": "worker", "size": "standard-2X"}]})
    assert refused.status_code == 422, "`size` is not in the update schema"
    assert len(standin.schema_violations) == 1
    standin.schema_violations.clear()
    worker = api(standin, "GET", "/apps/my-app/formation/worker").json()
    assert (worker["quantity"], worker["size"]) == (2, "standard-2X")
    one = api(standin, "PATCH", "/apps/my-app/formation/web",
              json={"quantity": 3, "dyno_size": {"id": app.formation[1]["dyno_size"]["id"]}})
    assert (one.json()["quantity"], one.json()["size"]) == (3, "standard-2X")
    unknown = api(standin, "PATCH", "/apps/my-app/formation",
                  json={"updates": [{"type": "clock", "quantity": 1}]})
    assert unknown.status_code == 404
    assert len(app.releases) == 2, "scaling makes no release"
    assert standin.schema_violations == []


def test_app_looks_like_herokus(standin: HerokuStandIn) -> None:
    app = standin.create_app("my-app")
    body = api(standin, "GET", "/apps/my-app").json()
    assert body["web_url"] == "https://my-app.herokuapp.com/"
    assert body["stack"]["name"] == body["build_stack"]["name"] == "container"
    assert body["name"] == "my-app"
    assert api(standin, "GET", f"/apps/{app.id}").json()["name"] == "my-app"
    assert [a["name"] for a in api(standin, "GET", "/apps").json()] == ["my-app"]
    with pytest.raises(ValueError, match="app name"):
        standin.create_app("My_App")


def test_answers_match_the_schema_definitions(standin: HerokuStandIn) -> None:
    """What the stand-in returns has the shape and types the published schema gives Heroku's
    own answers, so a client that parses them parses the real ones."""
    standin.create_app("my-app", config_vars={"A": "1"}, images={
        "web": "sha256:" + "1" * 64, "release": "sha256:" + "2" * 64},
        addons=[{"service": "heroku-redis", "config_vars": {"REDIS_URL": "rediss://r"}}])
    api(standin, "PATCH", "/apps/my-app/config-vars", json={"B": "2"})
    source = api(standin, "POST", "/sources").json()
    build = api(standin, "POST", "/apps/my-app/builds",
                json={"source_blob": {"url": source["source_blob"]["get_url"]}}).json()
    answers: list[tuple[str, object]] = [
        ("app", api(standin, "GET", "/apps/my-app").json()),
        ("account", api(standin, "GET", "/account").json()),
        ("rate-limit", api(standin, "GET", "/account/rate-limits").json()),
        ("source", source),
        ("build", build),
        *(("release", r) for r in api(standin, "GET", "/apps/my-app/releases").json()),
        *(("formation", f) for f in api(standin, "GET", "/apps/my-app/formation").json()),
        *(("add-on", a) for a in api(standin, "GET", "/apps/my-app/addons").json()),
    ]
    assert len(answers) >= 10
    for definition, answer in answers:
        assert standin.schema.instance_problems(definition, answer) == [], definition
    # and the check has teeth:
    assert standin.schema.instance_problems("release", {**answers[5][1], "version": "5"})


def test_addons_show_their_service_plan_and_config_vars(standin: HerokuStandIn) -> None:
    app = standin.create_app("my-app", addons=[
        {"service": "heroku-redis", "plan": "mini", "config_vars": {"REDIS_URL": "rediss://r"}},
        {"service": "jawsdb-maria", "plan": "kitefin",
         "config_vars": {"JAWSDB_MARIA_URL": "mysql://u:p@h/db"}},
    ])
    addons = api(standin, "GET", "/apps/my-app/addons").json()
    assert [(a["addon_service"]["name"], a["plan"]["name"], a["config_vars"]) for a in addons] == [
        ("heroku-redis", "heroku-redis:mini", ["REDIS_URL"]),
        ("jawsdb-maria", "jawsdb-maria:kitefin", ["JAWSDB_MARIA_URL"]),
    ]
    assert api(standin, "GET", "/apps/my-app/config-vars").json() == {
        "REDIS_URL": "rediss://r", "JAWSDB_MARIA_URL": "mysql://u:p@h/db"}
    assert [r["version"] for r in app.releases] == [1, 2, 3]


def test_config_patch_merges_deletes_and_releases_only_on_change(
    standin: HerokuStandIn,
) -> None:
    app = standin.create_app("my-app", config_vars={"A": "1", "B": "2"})
    response = api(standin, "PATCH", "/apps/my-app/config-vars",
                   json={"A": "10", "B": None, "C": "3", "GONE": None})
    assert response.status_code == 200
    assert response.json() == {"A": "10", "C": "3"}
    latest = app.releases[-1]
    assert latest["version"] == 2
    assert latest["description"] == "Set A, C config vars and remove B config var"
    config = api(standin, "GET", f"/apps/my-app/releases/{latest['id']}/config-vars").json()
    assert config == {"A": "10", "C": "3"}
    assert api(standin, "GET", "/apps/my-app/releases/1/config-vars").json() == {
        "A": "1", "B": "2"}
    # Same values again: nothing changes, no release, no restart.
    api(standin, "PATCH", "/apps/my-app/config-vars", json={"A": "10", "B": None})
    assert len(app.releases) == 2
    assert standin.schema_violations == []


def test_release_range_pagination(standin: HerokuStandIn) -> None:
    app = standin.create_app("my-app")
    for n in range(2, 8):
        api(standin, "PATCH", "/apps/my-app/config-vars", json={"N": str(n)})
    newest = api(standin, "GET", "/apps/my-app/releases",
                 headers={"Range": "version ..; max=1, order=desc"})
    assert newest.status_code == 206
    assert [r["version"] for r in newest.json()] == [7]
    assert newest.json()[0]["current"] is True
    seen, wanted = [], "version ..; max=3, order=desc"
    while True:
        response = api(standin, "GET", "/apps/my-app/releases", headers={"Range": wanted})
        seen += [r["version"] for r in response.json()]
        if response.status_code == 200:
            assert "Next-Range" not in response.headers
            break
        assert response.status_code == 206
        wanted = response.headers["Next-Range"]
    assert seen == [7, 6, 5, 4, 3, 2, 1]
    ascending = api(standin, "GET", "/apps/my-app/releases", headers={"Range": "version 3..5"})
    assert [r["version"] for r in ascending.json()] == [3, 4, 5]
    plain = api(standin, "GET", "/apps/my-app/releases")
    assert plain.status_code == 200 and [r["version"] for r in plain.json()] == list(range(1, 8))
    with standin.lock:
        for _ in range(200):
            app.create_release("Set N config var")
    first_page = api(standin, "GET", "/apps/my-app/releases")
    assert first_page.status_code == 206 and len(first_page.json()) == 200
    big = api(standin, "GET", "/apps/my-app/releases", headers={"Range": "version ..; max=5000"})
    assert big.status_code == 200 and len(big.json()) == 207


# ---- release phase ---------------------------------------------------------------------------

def _phase_app(standin: HerokuStandIn, outcome: str) -> Any:
    app = standin.create_app("my-app", images={"web": "sha256:" + "1" * 64,
                                               "release": "sha256:" + "2" * 64})
    app.release_phase_enabled = True
    app.release_phase_outcome = outcome
    app.release_phase_output = ["migrating", "step 2", "done"]
    app.line_interval = 0.1
    return app


@pytest.mark.parametrize("outcome", ["succeed", "fail"])
def test_release_phase_lifecycle(standin: HerokuStandIn, skipping_clock: SkippingClock,
                                 outcome: str) -> None:
    """The stand-in's phases last long in real time and are skipped on its clock: no state is
    checked against a race with the machine's load."""
    app = _phase_app(standin, "succeed")
    app.release_phase_outcome = lambda release: outcome  # a rule per release, here fixed
    app.stream_404_seconds = app.pending_linger_seconds = 600.0
    before = app.current_release()
    old_images = app.images
    api(standin, "PATCH", "/apps/my-app/config-vars", json={"X": "1"})
    release = api(standin, "GET", "/apps/my-app/releases",
                  headers={"Range": "version ..; max=1, order=desc"}).json()[0]
    assert release["status"] == "pending" and release["current"] is False
    stream = release["output_stream_url"]
    assert stream.startswith(standin.url)
    assert requests.get(stream, timeout=5).status_code == 404, "not yet"
    skipping_clock.sleep(app.stream_404_seconds)  # the stream opens
    arrivals = []
    with requests.get(stream, stream=True, timeout=5) as response:
        assert response.status_code == 200
        for line in response.iter_lines(decode_unicode=True):
            arrivals.append((line, time.monotonic()))
    assert [line for line, _ in arrivals] == ["migrating", "step 2", "done"]
    assert arrivals[-1][1] - arrivals[0][1] >= 0.15, "lines arrive over time"
    after_stream = api(standin, "GET", f"/apps/my-app/releases/{release['id']}").json()
    assert after_stream["status"] == "pending", "Heroku lingers in pending after the stream"
    skipping_clock.sleep(app.pending_linger_seconds)  # and then settles
    final = api(standin, "GET", f"/apps/my-app/releases/{release['id']}").json()
    if outcome == "succeed":
        assert final["status"] == "succeeded" and final["current"] is True
    else:
        assert final["status"] == "failed" and final["current"] is False
        assert final["eligible_for_rollback"] is False
        assert app.current_release()["id"] == before["id"]
        assert app.images == old_images
    assert standin.schema_violations == []


def test_fail_outcome_spares_a_release_image_that_passed_before(standin: HerokuStandIn) -> None:
    """Rolling back runs the old, proven release command again: it passes."""
    app = _phase_app(standin, "fail")
    app.pending_linger_seconds = app.stream_404_seconds = 0.0
    app.line_interval = 0.0
    proven = app.current_release()
    # With no time to any phase, a release settles as soon as anyone looks (App.settle).
    api(standin, "PATCH", "/apps/my-app/config-vars", json={"X": "1"})
    assert app.releases[-1]["status"] == "succeeded", "same release image as the running one"
    with standin.lock:
        app.create_release("Deployed web, release",
                           images={"web": "sha256:" + "3" * 64, "release": "sha256:" + "4" * 64})
    assert app.releases[-1]["status"] == "failed"
    rollback = api(standin, "POST", "/apps/my-app/releases", json={"release": proven["id"]})
    assert rollback.status_code == 201
    assert rollback.json()["description"] == f"Rollback to v{proven['version']}"
    assert app.current_release()["id"] == rollback.json()["id"]
    assert app.images["release"] == "sha256:" + "2" * 64


# ---- rollback ----------------------------------------------------------------------------

def test_rollback_restores_config_and_images(standin: HerokuStandIn) -> None:
    app = standin.create_app("my-app", config_vars={"A": "1"},
                             images={"web": "sha256:" + "1" * 64})
    target = app.current_release()
    api(standin, "PATCH", "/apps/my-app/config-vars", json={"A": "2"})
    with standin.lock:
        app.create_release("Deployed web", images={"web": "sha256:" + "5" * 64})
    response = api(standin, "POST", "/apps/my-app/releases", json={"release": target["id"]})
    assert response.status_code == 201
    assert response.json()["description"] == f"Rollback to v{target['version']}"
    assert app.config_vars == {"A": "1"}
    assert app.images == {"web": "sha256:" + "1" * 64}
    assert app.current_release()["id"] == response.json()["id"]


def test_rollback_refuses_ineligible_releases(standin: HerokuStandIn) -> None:
    app = standin.create_app("my-app")
    oldest = app.releases[0]
    for n in range(20):
        api(standin, "PATCH", "/apps/my-app/config-vars", json={"N": str(n)})
    releases = app.releases
    assert releases[0]["eligible_for_rollback"] is False, "beyond the last 20"
    assert releases[1]["eligible_for_rollback"] is True
    refused = api(standin, "POST", "/apps/my-app/releases", json={"release": oldest["id"]})
    assert refused.status_code == 422 and refused.json()["id"] == "invalid_params"
    app.expire_release(5)
    expired = app.releases[4]
    assert expired["status"] == "expired" and expired["eligible_for_rollback"] is False
    assert api(standin, "POST", "/apps/my-app/releases",
               json={"release": expired["id"]}).status_code == 422
    assert api(standin, "POST", "/apps/my-app/releases",
               json={"release": "01234567-89ab-cdef-0123-456789abcdef"}).status_code == 404
    assert standin.schema_violations == []


# ---- rate limit and faults ----------------------------------------------------------------

def test_rate_limit_header_and_429(standin: HerokuStandIn, skipping_clock: SkippingClock) -> None:
    standin.create_app("my-app")
    standin.set_rate_limit(3, 0.0)
    remaining = [api(standin, "GET", "/apps/my-app").headers["RateLimit-Remaining"]
                 for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    limited = api(standin, "GET", "/apps/my-app")
    assert limited.status_code == 429 and limited.json()["id"] == "rate_limit"
    assert limited.headers["RateLimit-Remaining"] == "0"
    assert limited.headers["Request-Id"]
    standin.set_rate_limit(2, 50.0)
    api(standin, "GET", "/apps/my-app")
    api(standin, "GET", "/apps/my-app")
    skipping_clock.sleep(0.1)  # on the stand-in's clock: 5 tokens at 50 a second
    assert api(standin, "GET", "/apps/my-app").status_code == 200, "the bucket refills"


def test_fault_injection(standin: HerokuStandIn) -> None:
    standin.create_app("my-app")
    standin.inject("429", count=1, path="/apps/my-app$", retry_after=2)
    standin.inject("429", count=1, path="/apps/my-app$")
    standin.inject("503", count=1, path="/apps/my-app$")
    standin.inject("500", count=1, path="config-vars", method="PATCH")
    first, second, third = (api(standin, "GET", "/apps/my-app") for _ in range(3))
    assert (first.status_code, first.headers.get("Retry-After")) == (429, "2")
    assert (second.status_code, second.headers.get("Retry-After")) == (429, None)
    assert third.status_code == 503
    assert api(standin, "GET", "/apps/my-app").status_code == 200
    assert api(standin, "GET", "/apps/my-app/config-vars").status_code == 200
    assert api(standin, "PATCH", "/apps/my-app/config-vars", json={"A": "1"}).status_code == 500
    standin.inject("402", count=1, path="/apps/my-app$")
    standin.inject("403", count=1, path="/apps/my-app$")
    assert [api(standin, "GET", "/apps/my-app").json()["id"] for _ in range(2)] == [
        "delinquent", "forbidden"]
    with pytest.raises(ValueError, match="unknown fault"):
        standin.inject("418")
    standin.inject("drop", count=1, path="/apps/my-app$")
    with pytest.raises(requests.ConnectionError):
        api(standin, "GET", "/apps/my-app")
    standin.inject("stall", count=1, path="/apps/my-app$", seconds=0.5)
    with pytest.raises(requests.Timeout):
        requests.get(standin.url + "/apps/my-app", timeout=0.2,
                     headers={"Accept": ACCEPT, "Authorization": f"Bearer {CANARY_API_KEY}"})
    assert api(standin, "GET", "/apps/my-app").status_code == 200


def test_latency_is_added_to_api_requests() -> None:
    with HerokuStandIn(api_key=CANARY_API_KEY, latency=0.05) as standin:
        standin.create_app("my-app")
        started = time.monotonic()
        for _ in range(4):
            api(standin, "GET", "/apps/my-app")
        assert time.monotonic() - started >= 0.2


def test_requests_are_recorded_with_the_key_masked(standin: HerokuStandIn) -> None:
    standin.create_app("my-app")
    api(standin, "PATCH", "/apps/my-app/config-vars", json={"A": "1"})
    (recorded,) = standin.requests
    assert (recorded.method, recorded.path, recorded.status) == (
        "PATCH", "/apps/my-app/config-vars", 200)
    assert recorded.headers["authorization"] == "****"
    assert recorded.body == '{"A": "1"}'
    assert CANARY_API_KEY not in repr(standin.requests)


# ---- router -------------------------------------------------------------------------------

def test_router_answers_for_the_running_release(standin: HerokuStandIn) -> None:
    app = standin.create_app("my-app")
    assert health(standin, "other-app.herokuapp.com").status_code == 404
    assert health(standin, "my-app.herokuapp.com").status_code == 503, "no web dyno yet"
    with standin.lock:
        app.config_vars["APPWRITE_LITE_RELEASE"] = "tag=v1.2.3 appwrite=1.9.7 commit=abc"
        app.create_release("Deployed web", images={"web": "sha256:" + "1" * 64})
    answer = health(standin, "my-app.herokuapp.com")
    assert (answer.status_code, answer.json()) == (200, {"version": "1.9.7"})
    app.health_status, app.health_version = 500, "1.9.0"
    answer = health(standin, "my-app.herokuapp.com")
    assert (answer.status_code, answer.json()) == (500, {"version": "1.9.0"})
    app.health_status, app.health_version = 200, None
    api(standin, "PATCH", "/apps/my-app/config-vars", json={"_APP_DOMAIN": "elsewhere.example"})
    assert health(standin, "my-app.herokuapp.com").status_code == 403
    api(standin, "PATCH", "/apps/my-app/config-vars",
        json={"_APP_DOMAIN": "my-app.herokuapp.com"})
    assert health(standin, "my-app.herokuapp.com").status_code == 200


# ---- sources ------------------------------------------------------------------------------

def test_sources_hand_out_urls_that_store_the_upload(standin: HerokuStandIn) -> None:
    blob = api(standin, "POST", "/sources").json()["source_blob"]
    assert blob["put_url"].startswith(standin.url) and blob["get_url"].startswith(standin.url)
    assert requests.get(blob["get_url"], timeout=5).status_code == 404, "nothing uploaded yet"
    assert requests.put(blob["put_url"], data=b"first", timeout=5).status_code == 200
    assert requests.get(blob["get_url"], timeout=5).content == b"first"
    streamed = (part for part in (b"chunk-1,", b"chunk-2"))  # no length: chunked upload
    assert requests.put(blob["put_url"], data=streamed, timeout=5).status_code == 200
    assert requests.get(blob["get_url"], timeout=5).content == b"chunk-1,chunk-2"
    assert requests.put(standin.url + "/_blobs/forged", data=b"x", timeout=5).status_code == 404
    assert standin.schema_violations == []
