"""Mailgun's and SendGrid's config vars as Appwrite's SMTP settings (config/mail.py)."""

from __future__ import annotations

import pytest

from appwrite_heroku.config import mail
from appwrite_heroku.errors import InputError

MAILGUN = {
    "MAILGUN_SMTP_SERVER": "smtp.mailgun.org", "MAILGUN_SMTP_PORT": "587",
    "MAILGUN_SMTP_LOGIN": "postmaster@app123.mailgun.org", "MAILGUN_SMTP_PASSWORD": "mgpw",
}


@pytest.mark.parametrize(("extra", "port", "secure", "sender"), [
    ({}, "587", "tls", "noreply@app123.mailgun.org"),
    ({"MAILGUN_SMTP_PORT": "465"}, "465", "ssl", "noreply@app123.mailgun.org"),
    ({"MAILGUN_SMTP_PORT": ""}, "587", "tls", "noreply@app123.mailgun.org"),
    ({"MAILGUN_DOMAIN": "mg.example.com"}, "587", "tls", "noreply@mg.example.com"),
])
def test_mailgun(extra: dict[str, str], port: str, secure: str, sender: str) -> None:
    assert mail.mailgun_settings({**MAILGUN, **extra}) == {
        "_APP_SMTP_HOST": "smtp.mailgun.org", "_APP_SMTP_PORT": port, "_APP_SMTP_SECURE": secure,
        "_APP_SMTP_USERNAME": "postmaster@app123.mailgun.org", "_APP_SMTP_PASSWORD": "mgpw",
        "_APP_SYSTEM_EMAIL_ADDRESS": sender,
    }


def test_mailgun_bad_port_and_missing_password() -> None:
    with pytest.raises(InputError, match="MAILGUN_SMTP_PORT"):
        mail.mailgun_settings({**MAILGUN, "MAILGUN_SMTP_PORT": "smtp"})
    with pytest.raises(InputError, match="MAILGUN_SMTP_PASSWORD"):
        mail.mailgun_settings({k: v for k, v in MAILGUN.items() if "PASSWORD" not in k})


@pytest.mark.parametrize(("config", "user", "password"), [
    ({"SENDGRID_API_KEY": "SG.key"}, "apikey", "SG.key"),
    ({"SENDGRID_USERNAME": "app1@heroku.com", "SENDGRID_PASSWORD": "legacy"}, "app1@heroku.com",
     "legacy"),
    ({"SENDGRID_API_KEY": "SG.key", "SENDGRID_USERNAME": "u", "SENDGRID_PASSWORD": "p"},
     "apikey", "SG.key"),
])
def test_sendgrid(config: dict[str, str], user: str, password: str) -> None:
    result = mail.sendgrid_settings(config)
    assert result is not None
    settings_, warnings = result
    assert settings_ == {
        "_APP_SMTP_HOST": "smtp.sendgrid.net", "_APP_SMTP_PORT": "587", "_APP_SMTP_SECURE": "tls",
        "_APP_SMTP_USERNAME": user, "_APP_SMTP_PASSWORD": password,
    }
    assert warnings and "_APP_SYSTEM_EMAIL_ADDRESS" in warnings[0]


def test_sendgrid_half_legacy_is_an_error_and_nothing_is_none() -> None:
    with pytest.raises(InputError, match="SENDGRID_PASSWORD"):
        mail.sendgrid_settings({"SENDGRID_USERNAME": "u"})
    assert mail.sendgrid_settings({}) is None
    assert mail.mailgun_settings({}) is None
