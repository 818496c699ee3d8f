"""Which names are secret, and the Redactor that keeps their values out of output."""

from __future__ import annotations

import pytest

from appwrite_heroku.secrecy import MASK, Redactor, is_secret_name


@pytest.mark.parametrize("name", [
    "_APP_DB_PASS", "_APP_REDIS_PASS", "_APP_SMTP_PASSWORD", "_APP_OPENSSL_KEY_V1",
    "_APP_EXECUTOR_SECRET", "_APP_STORAGE_S3_SECRET", "_APP_STORAGE_S3_ACCESS_KEY",
    "_APP_VCS_GITHUB_PRIVATE_KEY", "_APP_DB_ROOT_PASS", "REDIS_URL", "JAWSDB_MARIA_URL",
    "HEROKU_REDIS_AMBER_URL", "CLOUDCUBE_URL", "SENDGRID_API_KEY", "MAILGUN_SMTP_PASSWORD",
    "BUCKETEER_AWS_SECRET_ACCESS_KEY", "HEROKU_API_KEY", "GITHUB_TOKEN",
    "_APP_CONNECTIONS_STORAGE", "_APP_CONNECTIONS_DB_LOGS", "_APP_LOGGING_CONFIG",
    "JAWSDB_MARIA_DSN", "heroku_api_key",
])
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", [
    "_APP_DB_HOST", "_APP_DB_USER", "_APP_DOMAIN", "_APP_REDIS_PORT", "_APP_SMTP_HOST",
    "_APP_STORAGE_S3_BUCKET", "_APP_STORAGE_S3_REGION", "HEROKU_APP_DEFAULT_DOMAIN_NAME",
    "_APP_ENV", "_APP_DATABASE_KEYS", "APPWRITE_LITE_MANAGED", "BUCKETEER_BUCKET_NAME",
    "_APP_DOMAIN_TARGET_CNAME", "_APP_USAGE_STATS",
])
def test_plain_names(name: str) -> None:
    assert not is_secret_name(name)


def test_redactor_masks_longest_first_and_ignores_tiny_values() -> None:
    redactor = Redactor(["abcd", "abcdef1234", None])  # type: ignore[list-item]
    redactor.add("xy")  # too short to mask safely
    assert redactor.redact("key=abcdef1234 part=abcd xy") == f"key={MASK} part={MASK} xy"
    assert redactor.secrets == {"abcd", "abcdef1234"}
