"""Heroku add-on config vars, one parser per add-on, each returning Appwrite `_APP_*` pieces.

Pure functions over the config mapping. Messages name variables, never their values: add-on
values carry credentials. The settings engine (`settings.derive`) combines the pieces.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from ..errors import InputError
from .inputs import addon_vars, exact, present, whole_number

# --- Storage -----------------------------------------------------------------------------------

BUCKETEER_VARS = ("BUCKETEER_AWS_ACCESS_KEY_ID", "BUCKETEER_AWS_SECRET_ACCESS_KEY",
                  "BUCKETEER_AWS_REGION", "BUCKETEER_BUCKET_NAME")
CLOUDCUBE_VARS = ("CLOUDCUBE_URL", "CLOUDCUBE_ACCESS_KEY_ID", "CLOUDCUBE_SECRET_ACCESS_KEY")
_S3_REGION_IN_HOST = re.compile(r"(?:^|\.)s3[.-]([a-z0-9-]+)\.amazonaws\.com$")
_REGION = re.compile(r"[a-z]{2}(-gov)?-[a-z]+-[0-9]")


def bucketeer_settings(config: Mapping[str, str]) -> dict[str, str] | None:
    """Bucketeer is a plain AWS bucket: Appwrite's `s3` device without an endpoint."""
    if not any(present(config, name) for name in BUCKETEER_VARS):
        return None
    values = addon_vars(config, BUCKETEER_VARS, "Bucketeer")
    region = values["BUCKETEER_AWS_REGION"]
    if not _REGION.fullmatch(region):
        raise InputError("BUCKETEER_AWS_REGION is not an AWS region name like us-east-1")
    return {
        "_APP_STORAGE_DEVICE": "s3",
        "_APP_STORAGE_S3_ACCESS_KEY": values["BUCKETEER_AWS_ACCESS_KEY_ID"],
        "_APP_STORAGE_S3_SECRET": values["BUCKETEER_AWS_SECRET_ACCESS_KEY"],
        "_APP_STORAGE_S3_REGION": region,
        "_APP_STORAGE_S3_BUCKET": values["BUCKETEER_BUCKET_NAME"],
    }


def cloudcube_settings(config: Mapping[str, str]) -> tuple[dict[str, str], list[str]] | None:
    """Cloudcube grants a key prefix (the "cube") in a shared bucket, not a bucket.

    Appwrite 1.9.6's `s3` device with `_APP_STORAGE_S3_ENDPOINT` set builds its root as
    `<_APP_STORAGE_S3_BUCKET>/<storage path>` under that endpoint, so the bucket host as the
    endpoint and the cube name as the "bucket" put every object under the cube's prefix.
    """
    if not any(present(config, name) for name in CLOUDCUBE_VARS):
        return None
    values = addon_vars(config, CLOUDCUBE_VARS, "Cloudcube")
    try:
        parts = urlsplit(values["CLOUDCUBE_URL"])
        host = (parts.hostname or "").lower()
    except ValueError:
        host, parts = "", urlsplit("")
    cube = parts.path.strip("/")
    if parts.scheme != "https" or not host.endswith(".amazonaws.com") or not cube or "/" in cube:
        # No example URL here: the value is secret (a `*_URL`), so an example that shares a
        # piece with it would print masked.
        raise InputError(
            "CLOUDCUBE_URL is not a cube URL: the https scheme, a host under amazonaws.com, "
            "then the cube's name as its one path segment, as the Cloudcube add-on sets it"
        )
    warnings: list[str] = []
    match = _S3_REGION_IN_HOST.search(host)
    if match and match.group(1) != "external-1":
        region = match.group(1)
    else:
        region = "us-east-1"  # the global endpoint `<bucket>.s3.amazonaws.com` is us-east-1
        if not host.startswith("cloud-cube."):
            warnings.append(
                "CLOUDCUBE_URL does not name its AWS region; assuming us-east-1. If uploads "
                "fail with a region error, set _APP_STORAGE_S3_REGION by hand"
            )
    return {
        "_APP_STORAGE_DEVICE": "s3",
        "_APP_STORAGE_S3_ACCESS_KEY": values["CLOUDCUBE_ACCESS_KEY_ID"],
        "_APP_STORAGE_S3_SECRET": values["CLOUDCUBE_SECRET_ACCESS_KEY"],
        "_APP_STORAGE_S3_REGION": region,
        "_APP_STORAGE_S3_ENDPOINT": f"https://{host}",
        "_APP_STORAGE_S3_BUCKET": cube,
    }, warnings


# --- Mail --------------------------------------------------------------------------------------

MAILGUN_VARS = ("MAILGUN_SMTP_SERVER", "MAILGUN_SMTP_LOGIN", "MAILGUN_SMTP_PASSWORD")
SENDGRID_HOST = "smtp.sendgrid.net"


def _smtp_port(value: str | None, source: str, default: int) -> int:
    if value is None:
        return default
    if not whole_number(value) or not 0 < int(value) < 65536:
        raise InputError(f"{source} is not a port number from 1 to 65535")
    return int(value)


def mailgun_settings(config: Mapping[str, str]) -> dict[str, str] | None:
    if not any(present(config, name) for name in (*MAILGUN_VARS, "MAILGUN_SMTP_PORT")):
        return None
    values = addon_vars(config, MAILGUN_VARS, "Mailgun")
    port = _smtp_port(exact(config, "MAILGUN_SMTP_PORT"), "MAILGUN_SMTP_PORT", 587)
    login = values["MAILGUN_SMTP_LOGIN"]
    domain = exact(config, "MAILGUN_DOMAIN") or login.rpartition("@")[2]
    settings = {
        "_APP_SMTP_HOST": values["MAILGUN_SMTP_SERVER"],
        "_APP_SMTP_PORT": str(port),
        "_APP_SMTP_SECURE": "ssl" if port == 465 else "tls",
        "_APP_SMTP_USERNAME": login,
        "_APP_SMTP_PASSWORD": values["MAILGUN_SMTP_PASSWORD"],
    }
    if domain and "@" in login:
        # Mailgun only relays mail from its own domain; Appwrite's default sender is not.
        settings["_APP_SYSTEM_EMAIL_ADDRESS"] = f"noreply@{domain}"
    return settings


def sendgrid_settings(config: Mapping[str, str]) -> tuple[dict[str, str], list[str]] | None:
    api_key = exact(config, "SENDGRID_API_KEY")
    username, password = exact(config, "SENDGRID_USERNAME"), exact(config, "SENDGRID_PASSWORD")
    if api_key:
        username, password = "apikey", api_key  # SendGrid's SMTP relay: literal user "apikey"
    elif username or password:
        if not (username and password):
            raise InputError("SENDGRID_USERNAME and SENDGRID_PASSWORD must both be set "
                             "(or set SENDGRID_API_KEY)")
    else:
        return None
    warning = ("SendGrid only sends from a verified sender: set _APP_SYSTEM_EMAIL_ADDRESS to an "
               "address verified in SendGrid")
    warnings = [] if present(config, "_APP_SYSTEM_EMAIL_ADDRESS") else [warning]
    return {
        "_APP_SMTP_HOST": SENDGRID_HOST,
        "_APP_SMTP_PORT": "587",
        "_APP_SMTP_SECURE": "tls",
        "_APP_SMTP_USERNAME": username or "",
        "_APP_SMTP_PASSWORD": password or "",
    }, warnings


__all__ = [
    "bucketeer_settings",
    "cloudcube_settings",
    "mailgun_settings",
    "sendgrid_settings",
]
