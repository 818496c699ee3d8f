"""The settings engine end to end: derive, precedence through the marker, the config patch."""

from __future__ import annotations

import json
from pathlib import Path
from types import MappingProxyType
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appwrite_heroku.config.marker import MARKER_VAR, managed_keys, parse_marker
from appwrite_heroku.config.settings import LITE_DEFAULTS, Derivation, config_patch, derive
from appwrite_heroku.config.variables import appwrite_variables
from appwrite_heroku.errors import InputError
from helpers import CANARY_DB_PASSWORD, CANARY_REDIS_PASSWORD
from services import start_redis
from shared_tree import shared_file

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = json.loads((ROOT / "examples" / "heroku-config.json").read_text())

REDIS = "rediss://:redispw0000@ec2-1-2-3-4.compute-1.amazonaws.com:12345"
JAWS = "mysql://ju:jawspw0000@jaws.rds.amazonaws.com:3306/jschema"
BASE = {
    "REDIS_URL": REDIS,
    "JAWSDB_MARIA_URL": JAWS,
    "HEROKU_APP_DEFAULT_DOMAIN_NAME": "my-app.herokuapp.com",
    "_APP_OPENSSL_KEY_V1": "k" * 64,
    "_APP_EXECUTOR_SECRET": "e" * 64,
}
GENERATED = {"_APP_OPENSSL_KEY_V1": "G" * 64, "_APP_EXECUTOR_SECRET": "X" * 64}


def apply(config: dict[str, str], patch: dict[str, str | None]) -> dict[str, str]:
    """What Heroku's config-vars PATCH does: merge, null deletes."""
    merged = dict(config)
    for name, value in patch.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


def release(config: dict[str, str], hostname: str | None = None) -> dict[str, str]:
    """One release: derive, then write the patch, as the release engine will."""
    derivation = derive(config, hostname=hostname)
    return apply(config, config_patch(config, derivation, GENERATED))


# --- the example app and the pinned variable list ---------------------------------------------


def test_example_app_gives_a_complete_correct_set() -> None:
    derivation = derive(EXAMPLE)
    s = derivation.settings
    assert derivation.not_ready == [] and derivation.missing_secrets == []
    assert len(derivation.warnings) == 1 and "extensions postgis" in derivation.warnings[0]
    assert s["_APP_DB_ADAPTER"] == "postgresql" and s["_APP_DB_PORT"] == "5432"
    assert s["_APP_DB_HOST"].endswith(".compute-1.amazonaws.com")
    assert (s["_APP_REDIS_HOST"], s["_APP_REDIS_PORT"], s["_APP_REDIS_PASS"]) == (
        "127.0.0.1", "6379", "")
    upstream = derivation.redis_upstream
    assert upstream is not None and upstream.tls and upstream.port == 12345
    assert upstream.username is None and upstream.password
    assert s["_APP_STORAGE_DEVICE"] == "s3" and s["_APP_STORAGE_S3_BUCKET"].startswith("bucketeer-")
    assert "_APP_STORAGE_S3_ENDPOINT" not in s
    assert s["_APP_SMTP_HOST"] == "smtp.mailgun.org" and s["_APP_SMTP_SECURE"] == "tls"
    assert s["_APP_DOMAIN"] == EXAMPLE["HEROKU_APP_DEFAULT_DOMAIN_NAME"]
    assert s["_APP_OPTIONS_ROUTER_PROTECTION"] == "enabled"
    assert s["_APP_OPENSSL_KEY_V1"] == EXAMPLE["_APP_OPENSSL_KEY_V1"]
    for name, value in LITE_DEFAULTS.items():
        assert s[name] == value
    assert {"_APP_DB_PASS", "_APP_SMTP_PASSWORD", "_APP_STORAGE_S3_SECRET",
            "_APP_OPENSSL_KEY_V1", "_APP_EXECUTOR_SECRET"} <= derivation.secret_keys
    assert "_APP_DB_HOST" not in derivation.secret_keys
    assert derivation.derived_keys == set(s) - {"_APP_OPENSSL_KEY_V1", "_APP_EXECUTOR_SECRET",
                                                "_APP_CONSOLE_WHITELIST_EMAILS"}


def _every_add_on() -> list[dict[str, str]]:
    cloudcube = {"CLOUDCUBE_URL": "https://cloud-cube.s3.amazonaws.com/c1",
                 "CLOUDCUBE_ACCESS_KEY_ID": "a", "CLOUDCUBE_SECRET_ACCESS_KEY": "b"}
    return [
        EXAMPLE,
        {"REDIS_URL": "redis://h:1", "DATABASE_URL": "postgres://u:p@h/d", **cloudcube,
         "SENDGRID_API_KEY": "SG.x"},
        {"REDISCLOUD_URL": "redis://:p@h:1", "CLEARDB_DATABASE_URL": "mysql://u:p@h/d"},
        {"JAWSDB_URL": "placeholder"},
        {},
    ]


@pytest.mark.parametrize("config", _every_add_on())
@pytest.mark.parametrize("source", ["packaged", "shared"])
def test_every_emitted_name_is_in_the_pinned_variable_list(config: dict[str, str],
                                                           source: str) -> None:
    if source == "shared":
        shared = shared_file("appwrite", "variables-1.9.6.json")
        names = set(json.loads(shared.read_text())["variables"])
    else:
        names = set(appwrite_variables())
    assert len(names) > 200
    emitted = set(derive(config, hostname="x.herokuapp.com").settings)
    emitted |= set(derive(config).settings)
    assert emitted and emitted <= names, sorted(emitted - names)


def test_packaged_list_matches_the_shared_one() -> None:
    shared = json.loads(shared_file("appwrite", "variables-1.9.6.json").read_text())
    assert set(shared["variables"]) == set(appwrite_variables())


# --- choices, defaults and warnings ------------------------------------------------------------


def test_nothing_attached_warns_for_each_missing_piece() -> None:
    derivation = derive({})
    text = "\n".join(derivation.warnings)
    assert "no Redis add-on" in text and "no database add-on" in text
    assert "vanish at every dyno restart" in text
    assert "runtime-dyno-metadata" in text
    assert derivation.settings["_APP_OPTIONS_ROUTER_PROTECTION"] == "disabled"
    assert derivation.settings["_APP_STORAGE_DEVICE"] == "local"
    assert "_APP_DOMAIN" not in derivation.settings
    assert derivation.missing_secrets == ["_APP_OPENSSL_KEY_V1", "_APP_EXECUTOR_SECRET"]
    assert derivation.redis_upstream is None


def test_database_precedence_and_warning() -> None:
    config = {**BASE, "DATABASE_URL": "postgres://u:p@pg/d", "JAWSDB_URL": "mysql://a:b@j/s"}
    derivation = derive(config)
    assert derivation.settings["_APP_DB_HOST"] == "jaws.rds.amazonaws.com"
    assert any("JAWSDB_MARIA_URL, JAWSDB_URL, DATABASE_URL" in w for w in derivation.warnings)
    only_pg = {k: v for k, v in config.items() if not k.startswith("JAWSDB")}
    derivation = derive(only_pg)
    assert derivation.settings["_APP_DB_ADAPTER"] == "postgresql"
    assert derivation.settings["_APP_DB_PORT"] == "5432"


def test_jawsdb_placeholder_is_not_ready_and_the_rest_is_still_derived() -> None:
    derivation = derive({**BASE, "JAWSDB_MARIA_URL": "mysql://user:password@host:3306/database"})
    assert derivation.not_ready == ["JAWSDB_MARIA_URL"]
    assert "_APP_DB_HOST" not in derivation.settings
    assert derivation.settings["_APP_REDIS_HOST"] == "127.0.0.1"
    assert any("placeholder" in w for w in derivation.warnings)


def test_malformed_database_raises_input_error_without_the_password() -> None:
    with pytest.raises(InputError) as caught:
        derive({**BASE, "JAWSDB_MARIA_URL": f"mysql://u:{CANARY_DB_PASSWORD}%40x@h/s"})
    assert "JAWSDB_MARIA_URL" in str(caught.value)
    assert CANARY_DB_PASSWORD not in str(caught.value)


def test_plain_redis_without_password_is_given_directly() -> None:
    derivation = derive({**BASE, "REDIS_URL": "redis://cache.internal:6390"}, bridge_port=7000)
    assert derivation.settings["_APP_REDIS_HOST"] == "cache.internal"
    assert derivation.settings["_APP_REDIS_PORT"] == "6390"
    assert derivation.redis_upstream is not None and not derivation.redis_upstream.needs_bridge


def test_bridge_port_is_what_appwrite_is_told() -> None:
    derivation = derive(BASE, bridge_port=16379)
    assert derivation.settings["_APP_REDIS_PORT"] == "16379"
    with pytest.raises(InputError):
        derive(BASE, bridge_port=0)


def test_hostname_argument_beats_dyno_metadata_and_bad_hostnames_fail() -> None:
    assert derive(BASE, hostname="Api.Example.com").settings["_APP_DOMAIN"] == "api.example.com"
    with pytest.raises(InputError, match="host name"):
        derive(BASE, hostname="https://api.example.com/")
    with pytest.raises(InputError, match="HEROKU_APP_DEFAULT_DOMAIN_NAME"):
        derive({**BASE, "HEROKU_APP_DEFAULT_DOMAIN_NAME": "not a host"})


def test_hand_set_domain_is_used_when_nothing_else_knows() -> None:
    config = {k: v for k, v in BASE.items() if k != "HEROKU_APP_DEFAULT_DOMAIN_NAME"}
    config["_APP_DOMAIN"] = "appwrite.example.org"
    s = derive(config).settings
    assert s["_APP_DOMAIN"] == "appwrite.example.org"
    assert s["_APP_DOMAIN_TARGET_CNAME"] == "appwrite.example.org"
    assert s["_APP_OPTIONS_ROUTER_PROTECTION"] == "enabled"


def test_domain_written_by_a_release_survives_a_boot_without_metadata() -> None:
    config = {k: v for k, v in BASE.items() if k != "HEROKU_APP_DEFAULT_DOMAIN_NAME"}
    released = release(config, hostname="my-app-123.herokuapp.com")
    booted = derive(released)  # the launcher knows no host name
    assert booted.settings["_APP_DOMAIN"] == "my-app-123.herokuapp.com"
    assert booted.settings["_APP_OPTIONS_ROUTER_PROTECTION"] == "enabled"
    assert "_APP_DOMAIN" in booted.derived_keys


def test_hand_set_storage_device_keeps_add_ons_out() -> None:
    config = {**BASE, **{"BUCKETEER_AWS_ACCESS_KEY_ID": "a", "BUCKETEER_AWS_SECRET_ACCESS_KEY": "b",
                         "BUCKETEER_AWS_REGION": "us-east-1", "BUCKETEER_BUCKET_NAME": "c"},
              "_APP_STORAGE_DEVICE": "backblaze", "_APP_STORAGE_BACKBLAZE_BUCKET": "mine"}
    s = derive(config).settings
    assert s["_APP_STORAGE_DEVICE"] == "backblaze"
    assert "_APP_STORAGE_S3_BUCKET" not in s


def test_every_api_worker_takes_requests_when_all_are_busy() -> None:
    """Regression (real Appwrite 1.9.6, tests/test_real_appwrite.py, JawsDB kitefin): with one
    API worker and the code default of 80 % "safe" workers, app/http.php:163 picks worker
    rand(0, -1) when the worker is busy and Swoole drops the request; 100 % keeps every pick
    valid. A hand-set value still wins."""
    assert derive(BASE).settings["_APP_RISKY_WORKERS_PERCENT"] == "100"
    assert derive({**BASE, "_APP_RISKY_WORKERS_PERCENT": "50"}).settings[
        "_APP_RISKY_WORKERS_PERCENT"] == "50"


def test_unknown_hand_set_name_is_passed_through_with_a_warning() -> None:
    derivation = derive({**BASE, "_APP_DB_HOTS": "typo"})
    assert derivation.settings["_APP_DB_HOTS"] == "typo"
    assert any("_APP_DB_HOTS is not a variable" in w for w in derivation.warnings)


# --- precedence --------------------------------------------------------------------------------


def test_first_release_writes_derived_values_secrets_and_marker() -> None:
    config = {k: v for k, v in BASE.items() if not k.startswith("_APP_")}
    derivation = derive(config)
    patch = config_patch(config, derivation, GENERATED)
    assert patch["_APP_OPENSSL_KEY_V1"] == GENERATED["_APP_OPENSSL_KEY_V1"]
    assert patch["_APP_EXECUTOR_SECRET"] == GENERATED["_APP_EXECUTOR_SECRET"]
    assert patch["_APP_DB_PASS"] == "jawspw0000"
    marker = parse_marker(str(patch[MARKER_VAR]))
    assert marker is not None and set(marker) == derivation.derived_keys
    assert "_APP_OPENSSL_KEY_V1" not in marker
    # A second release with nothing changed writes nothing.
    written = apply(config, patch)
    assert config_patch(written, derive(written), GENERATED) == {}
    assert managed_keys(written)[0] == derivation.derived_keys
    # The marker reveals nothing: no value appears in it.
    for value in derivation.settings.values():
        if len(value) > 3:
            assert value not in str(patch[MARKER_VAR])


def test_rotated_add_on_url_wins_over_our_old_value_without_a_redeploy() -> None:
    config = release(dict(BASE))
    assert config["_APP_DB_PASS"] == "jawspw0000"
    # Heroku rotates the JawsDB credentials: only JAWSDB_MARIA_URL changes; dynos restart.
    config["JAWSDB_MARIA_URL"] = "mysql://ju2:newpw1111@jaws2.rds.amazonaws.com:3306/jschema"
    booted = derive(config)
    assert booted.settings["_APP_DB_PASS"] == "newpw1111"
    assert booted.settings["_APP_DB_HOST"] == "jaws2.rds.amazonaws.com"
    assert booted.settings["_APP_DB_USER"] == "ju2"
    assert not any("set by hand" in w for w in booted.warnings)
    # The next release records the new values, with a fresh marker.
    patch = config_patch(config, booted, GENERATED)
    assert patch["_APP_DB_PASS"] == "newpw1111" and MARKER_VAR in patch
    assert "_APP_OPENSSL_KEY_V1" not in patch


def test_hand_set_value_wins_over_the_add_on() -> None:
    config = release(dict(BASE))
    config["_APP_DB_HOST"] = "proxysql.internal"  # the user points Appwrite elsewhere by hand
    config["JAWSDB_MARIA_URL"] = "mysql://ju:jawspw0000@jaws3.rds.amazonaws.com:3306/jschema"
    derivation = derive(config)
    assert derivation.settings["_APP_DB_HOST"] == "proxysql.internal"
    assert "_APP_DB_HOST" not in derivation.derived_keys
    assert any(w.startswith("_APP_DB_HOST is set by hand") for w in derivation.warnings)
    assert "proxysql" not in "".join(derivation.warnings)
    patch = config_patch(config, derivation, GENERATED)
    assert "_APP_DB_HOST" not in patch  # never overwritten
    marker = parse_marker(str(patch[MARKER_VAR]))
    assert marker is not None and "_APP_DB_HOST" not in marker
    # And it stays the user's at every later boot and release.
    config = apply(config, patch)
    assert derive(config).settings["_APP_DB_HOST"] == "proxysql.internal"
    assert config_patch(config, derive(config), GENERATED) == {}


def test_hand_set_value_equal_to_derived_is_silent_and_stays_the_users() -> None:
    config = {**BASE, "_APP_ENV": "production"}
    derivation = derive(config)
    assert "_APP_ENV" not in derivation.derived_keys
    assert not any("_APP_ENV" in w for w in derivation.warnings)
    assert "_APP_ENV" not in config_patch(config, derivation, GENERATED)


def test_key_we_wrote_and_no_longer_derive_is_deleted() -> None:
    config = release({**BASE, "SENDGRID_API_KEY": "SG.abc"})
    assert config["_APP_SMTP_HOST"] == "smtp.sendgrid.net"
    del config["SENDGRID_API_KEY"]  # the add-on is removed
    derivation = derive(config)
    assert "_APP_SMTP_HOST" not in derivation.settings
    patch = config_patch(config, derivation, GENERATED)
    assert patch["_APP_SMTP_HOST"] is None and patch["_APP_SMTP_PASSWORD"] is None


def test_forged_or_garbled_marker_never_claims_the_openssl_key() -> None:
    config = release(dict(BASE))
    garbled = {**config, MARKER_VAR: "not a marker"}
    derivation = derive(garbled)
    assert any(MARKER_VAR in w for w in derivation.warnings)
    assert derivation.derived_keys < set(derivation.settings)
    forged = {**config, MARKER_VAR: config[MARKER_VAR] + ",_APP_OPENSSL_KEY_V1:0123456789abcdef"}
    assert derive(forged).settings["_APP_OPENSSL_KEY_V1"] == BASE["_APP_OPENSSL_KEY_V1"]


@pytest.mark.parametrize("current_key", ["k" * 64, "short", "your-secret-key", "", "  "])
def test_config_patch_never_changes_or_deletes_an_existing_openssl_key(current_key: str) -> None:
    config = {**BASE, "_APP_OPENSSL_KEY_V1": current_key}
    # Even a derivation that claims the key is missing and derived must not move it.
    liar = derive(config)
    liar.missing_secrets = ["_APP_OPENSSL_KEY_V1"]
    liar.settings["_APP_OPENSSL_KEY_V1"] = "attacker"
    liar.derived_keys = liar.derived_keys | {"_APP_OPENSSL_KEY_V1"}
    patch = config_patch(config, liar, {"_APP_OPENSSL_KEY_V1": "new" * 20})
    assert "_APP_OPENSSL_KEY_V1" not in patch
    empty = Derivation(settings={}, redis_upstream=None)
    assert "_APP_OPENSSL_KEY_V1" not in config_patch(config, empty, GENERATED)


def test_missing_secret_without_generated_value_is_not_written() -> None:
    config = {k: v for k, v in BASE.items() if k != "_APP_EXECUTOR_SECRET"}
    patch = config_patch(config, derive(config), {})
    assert "_APP_EXECUTOR_SECRET" not in patch


# --- real services -----------------------------------------------------------------------------


def test_derived_db_settings_connect_to_a_real_mariadb(mariadb: object) -> None:
    import pymysql

    server = mariadb
    derivation = derive({**BASE, "JAWSDB_MARIA_URL": server.url})  # type: ignore[attr-defined]
    s = derivation.settings
    assert s["_APP_DB_PASS"] == CANARY_DB_PASSWORD
    connection = pymysql.connect(host=s["_APP_DB_HOST"], port=int(s["_APP_DB_PORT"]),
                                 user=s["_APP_DB_USER"], password=s["_APP_DB_PASS"],
                                 database=s["_APP_DB_SCHEMA"], connect_timeout=10)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT DATABASE(), CURRENT_USER()")
            schema, user = cursor.fetchone()
            cursor.execute("CREATE TABLE IF NOT EXISTS probe (id INT)")
    finally:
        connection.close()
    assert schema == s["_APP_DB_SCHEMA"] == "appwrite_db"
    assert user.startswith("jaws_user@")


def _ping_upstream(derivation: Derivation) -> bytes:
    import redis

    upstream = derivation.redis_upstream
    assert upstream is not None
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis(host=upstream.host, port=upstream.port, username=upstream.username,
                         password=upstream.password, db=upstream.db, ssl=upstream.tls,
                         ssl_cert_reqs="none", socket_timeout=5, retry=Retry(NoBackoff(), 0))
    try:
        client.set("settings-probe", b"ok")
        value = client.get("settings-probe")
        assert isinstance(value, bytes)
        return value
    finally:
        client.close()


def test_derived_upstream_connects_to_a_real_password_redis(redis_password: object) -> None:
    url = redis_password.url  # type: ignore[attr-defined]
    derivation = derive({**BASE, "REDIS_URL": url})
    upstream = derivation.redis_upstream
    assert upstream is not None and upstream.password == CANARY_REDIS_PASSWORD
    assert upstream.needs_bridge and derivation.settings["_APP_REDIS_HOST"] == "127.0.0.1"
    assert _ping_upstream(derivation) == b"ok"


def test_derived_upstream_connects_to_a_real_tls_acl_redis(redis_tls_acl: object) -> None:
    url = redis_tls_acl.url  # type: ignore[attr-defined]
    assert url.startswith("rediss://h:")
    derivation = derive({**BASE, "HEROKU_REDIS_CRIMSON_URL": url, "REDIS_URL": ""})
    upstream = derivation.redis_upstream
    assert upstream is not None and upstream.tls and upstream.username == "h"
    assert upstream.source == "HEROKU_REDIS_CRIMSON_URL"
    assert _ping_upstream(derivation) == b"ok"


def test_wrong_password_really_fails_against_the_real_redis(redis_password: object) -> None:
    """Guards the two tests above: the server does check what the upstream carries."""
    import redis

    derivation = derive({**BASE, "REDIS_URL": redis_password.url.replace(  # type: ignore[attr-defined]
        "canary", "wrong")})
    with pytest.raises(redis.exceptions.AuthenticationError):
        _ping_upstream(derivation)


# --- derive as a whole: malformed input only ever raises our error, never with a secret --------

_ADD_ON_VARS = ["REDIS_URL", "APPWRITE_REDIS_URL", "HEROKU_REDIS_TEAL_URL", "JAWSDB_MARIA_URL",
                "JAWSDB_URL", "CLEARDB_DATABASE_URL", "DATABASE_URL", "CLOUDCUBE_URL",
                "BUCKETEER_AWS_REGION", "MAILGUN_SMTP_PORT", "HEROKU_APP_DEFAULT_DOMAIN_NAME",
                MARKER_VAR]
_CANARY = "Canary-Derive-Secret-5e1f"


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(_ADD_ON_VARS), junk=st.text(max_size=60),
       scheme=st.sampled_from(["", "redis://", "rediss://", "mysql://", "postgres://", "https://"]),
       with_canary=st.booleans())
def test_derive_on_junk_raises_only_input_error_without_the_secret(
        name: str, junk: str, scheme: str, with_canary: bool) -> None:
    value = scheme + (f"u:{_CANARY}@" if with_canary else "") + junk
    try:
        derivation = derive({**BASE, name: value})
    except InputError as error:
        assert _CANARY not in str(error)
        return
    assert all(_CANARY not in warning for warning in derivation.warnings)


def test_blank_openssl_key_is_reported_and_left_alone() -> None:
    config = {**BASE, "_APP_OPENSSL_KEY_V1": " "}
    derivation = derive(config)
    assert derivation.missing_secrets == ["_APP_OPENSSL_KEY_V1"]
    assert "_APP_OPENSSL_KEY_V1" not in derivation.settings
    assert any("set but blank" in w for w in derivation.warnings)
    assert "_APP_OPENSSL_KEY_V1" not in config_patch(config, derivation, GENERATED)


def test_special_but_allowed_db_password_reaches_a_real_mariadb(mariadb: object) -> None:
    """Percent-decoding end to end: a password full of characters Appwrite can carry."""
    import pymysql

    server = mariadb
    password = "Pw!$*&^~'\"\\;(x)<y>{z}|`." + CANARY_DB_PASSWORD
    root = pymysql.connect(unix_socket=str(server.directory / "s.sock"),  # type: ignore[attr-defined]
                           user="root", password="")
    try:
        with root.cursor() as cursor:
            cursor.execute("CREATE USER IF NOT EXISTS 'odd_user'@'%%' IDENTIFIED BY %s",
                           (password,))
            cursor.execute("GRANT ALL ON `appwrite_db`.* TO 'odd_user'@'%'")
    finally:
        root.close()
    url = (f"mysql://odd_user:{quote(password, safe='')}@127.0.0.1:"
           f"{server.port}/appwrite_db?reconnect=true")  # type: ignore[attr-defined]
    s = derive({**BASE, "CLEARDB_DATABASE_URL": url, "JAWSDB_MARIA_URL": ""}).settings
    assert s["_APP_DB_PASS"] == password and s["_APP_DB_ADAPTER"] == "mysql"
    connection = pymysql.connect(host=s["_APP_DB_HOST"], port=int(s["_APP_DB_PORT"]),
                                 user=s["_APP_DB_USER"], password=s["_APP_DB_PASS"],
                                 database=s["_APP_DB_SCHEMA"], connect_timeout=10)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
    connection.close()


@pytest.mark.services
def test_reserved_characters_in_redis_credentials_reach_a_real_server(tmp_path: Path) -> None:
    """Redis credentials go to the bridge, not into Appwrite's DSN: any character is fine."""
    password = "p@ss:w/rd%+ #?[],=" + CANARY_REDIS_PASSWORD
    server = start_redis(tmp_path / "redis-odd", tls=True, username="app-user",
                         password=password)
    try:
        url = (f"rediss://app-user:{quote(password, safe='')}@127.0.0.1:{server.port}/2")
        derivation = derive({**BASE, "APPWRITE_REDIS_URL": url})
        upstream = derivation.redis_upstream
        assert upstream is not None and upstream.password == password and upstream.db == 2
        assert _ping_upstream(derivation) == b"ok"
    finally:
        server.stop()


def test_derive_is_pure_and_deterministic() -> None:
    frozen = MappingProxyType(dict(EXAMPLE))  # any write would raise
    first, second = derive(frozen), derive(frozen)
    assert first == second
    assert dict(frozen) == EXAMPLE


def test_hand_copied_add_on_values_get_one_hint_to_unset_them() -> None:
    """The issue's story: JAWSDB_URL pieces copied by hand into `_APP_DB_*`."""
    config = {**BASE, "_APP_DB_HOST": "jaws.rds.amazonaws.com", "_APP_DB_PASS": "jawspw0000",
              "_APP_DB_USER": "ju"}
    derivation = derive(config)
    hints = [w for w in derivation.warnings if "set by hand to what the add-ons give" in w]
    assert len(hints) == 1
    assert "heroku config:unset _APP_DB_HOST _APP_DB_PASS _APP_DB_USER" in hints[0]
    assert "jawspw0000" not in hints[0]
    assert not {"_APP_DB_HOST", "_APP_DB_PASS", "_APP_DB_USER"} & derivation.derived_keys


def test_only_the_pinned_variable_list_is_packaged() -> None:
    with pytest.raises(LookupError, match=r"Appwrite 0\.0\.1"):
        appwrite_variables("0.0.1")
    assert "_APP_DB_ADAPTER" in appwrite_variables()


APPWRITE_MIRROR = Path("/work/.mirror/appwrite+appwrite/repo")


@pytest.mark.slow
@pytest.mark.skipif(not APPWRITE_MIRROR.is_dir(),
                    reason="the Appwrite mirror is a workstation copy")
def test_the_installers_values_are_appwrites_own() -> None:
    """The values the Lite takes from Appwrite's installer are app/config/variables.php's
    defaults at 1.9.6 (what Install.php writes into its .env)."""
    import re
    import subprocess

    source = subprocess.run(["git", "--git-dir", str(APPWRITE_MIRROR), "show",
                             "1.9.6:app/config/variables.php"], capture_output=True, text=True,
                            check=True).stdout
    for name in ("_APP_STORAGE_LIMIT", "_APP_STORAGE_PREVIEW_LIMIT", "_APP_COMPUTE_SIZE_LIMIT",
                 "_APP_USAGE_AGGREGATION_INTERVAL", "_APP_STORAGE_ANTIVIRUS"):
        found = re.search(rf"'name' => '{name}',.*?'default' => '([^']*)'", source, re.S)
        assert found and LITE_DEFAULTS[name] == found.group(1), name
