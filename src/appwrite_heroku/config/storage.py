"""Storage: Bucketeer or Cloudcube as Appwrite's `s3` device, the choice between them, and
the dyno's own disk (with a warning) when neither is attached and nothing is set by hand.

Pure functions over the config mapping. Messages name variables, never their values: the keys
are credentials.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from ..errors import InputError
from .inputs import addon_vars, present

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


def derive(config: Mapping[str, str],
           hand_set: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The `_APP_STORAGE_*` settings and warnings: Bucketeer before Cloudcube (attaching both is
    worth a warning), nothing when the device is set by hand (add-ons do not mix into it)."""
    if "_APP_STORAGE_DEVICE" in hand_set:
        return {}, []
    bucketeer, cloudcube = bucketeer_settings(config), cloudcube_settings(config)
    if bucketeer is not None:
        both = "both Bucketeer and Cloudcube are attached; using Bucketeer"
        return bucketeer, [both] if cloudcube is not None else []
    if cloudcube is not None:
        return cloudcube
    return {"_APP_STORAGE_DEVICE": "local"}, [
        "no storage add-on (Bucketeer or Cloudcube) and no _APP_STORAGE_DEVICE: uploads are "
        "kept on the dyno's disk and vanish at every dyno restart"
    ]


__all__ = [
    "BUCKETEER_VARS",
    "CLOUDCUBE_VARS",
    "bucketeer_settings",
    "cloudcube_settings",
    "derive",
]
