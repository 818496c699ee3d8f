"""Bucketeer's and Cloudcube's config vars as Appwrite's s3 device (config/storage.py)."""

from __future__ import annotations

import pytest

from appwrite_heroku.config import storage
from appwrite_heroku.errors import InputError

BUCKETEER = {
    "BUCKETEER_AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "BUCKETEER_AWS_SECRET_ACCESS_KEY": "s3cr3t",
    "BUCKETEER_AWS_REGION": "eu-west-1", "BUCKETEER_BUCKET_NAME": "bucketeer-1234",
}


def test_bucketeer_is_the_s3_device_without_endpoint() -> None:
    assert storage.bucketeer_settings(BUCKETEER) == {
        "_APP_STORAGE_DEVICE": "s3", "_APP_STORAGE_S3_ACCESS_KEY": "AKIAEXAMPLE",
        "_APP_STORAGE_S3_SECRET": "s3cr3t", "_APP_STORAGE_S3_REGION": "eu-west-1",
        "_APP_STORAGE_S3_BUCKET": "bucketeer-1234",
    }
    assert storage.bucketeer_settings({}) is None


def test_partial_bucketeer_names_what_is_missing() -> None:
    partial = {k: v for k, v in BUCKETEER.items() if k != "BUCKETEER_BUCKET_NAME"}
    with pytest.raises(InputError, match="BUCKETEER_BUCKET_NAME"):
        storage.bucketeer_settings(partial)
    with pytest.raises(InputError, match="BUCKETEER_AWS_REGION"):
        storage.bucketeer_settings({**BUCKETEER, "BUCKETEER_AWS_REGION": "mars"})


@pytest.mark.parametrize(("url", "endpoint", "cube", "region", "warns"), [
    ("https://cloud-cube.s3.amazonaws.com/abc123", "https://cloud-cube.s3.amazonaws.com",
     "abc123", "us-east-1", False),
    ("https://cloud-cube-eu.s3.eu-west-1.amazonaws.com/zz9/", "https://cloud-cube-eu.s3.eu-west-1"
     ".amazonaws.com", "zz9", "eu-west-1", False),
    ("https://cloud-cube-jp.s3.amazonaws.com/q1", "https://cloud-cube-jp.s3.amazonaws.com", "q1",
     "us-east-1", True),
])
def test_cloudcube_puts_objects_under_the_cube_prefix(url: str, endpoint: str, cube: str,
                                                      region: str, warns: bool) -> None:
    result = storage.cloudcube_settings({
        "CLOUDCUBE_URL": url, "CLOUDCUBE_ACCESS_KEY_ID": "AKIACUBE",
        "CLOUDCUBE_SECRET_ACCESS_KEY": "cubesecret",
    })
    assert result is not None
    settings_, warnings = result
    assert settings_ == {
        "_APP_STORAGE_DEVICE": "s3", "_APP_STORAGE_S3_ACCESS_KEY": "AKIACUBE",
        "_APP_STORAGE_S3_SECRET": "cubesecret", "_APP_STORAGE_S3_REGION": region,
        "_APP_STORAGE_S3_ENDPOINT": endpoint, "_APP_STORAGE_S3_BUCKET": cube,
    }
    assert bool(warnings) is warns


@pytest.mark.parametrize("url", ["http://cloud-cube.s3.amazonaws.com/a",
                                 "https://cloud-cube.s3.amazonaws.com/", "not a url",
                                 "https://example.com/abc", "https://cloud-cube.s3.amazonaws.com/a/b"])
def test_bad_cloudcube_url(url: str) -> None:
    with pytest.raises(InputError, match="CLOUDCUBE_URL"):
        storage.cloudcube_settings({"CLOUDCUBE_URL": url, "CLOUDCUBE_ACCESS_KEY_ID": "k",
                                   "CLOUDCUBE_SECRET_ACCESS_KEY": "s"})
