"""Mail: Mailgun or SendGrid as Appwrite's SMTP settings, and the choice between them.

Pure functions over the config mapping. Messages name variables, never their values: the
passwords and API keys are credentials.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import InputError
from .inputs import addon_vars, exact, present, whole_number

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


def derive(config: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The `_APP_SMTP_*` settings and warnings: Mailgun before SendGrid (attaching both is worth
    a warning); none without either, and Appwrite sends no mail."""
    mailgun, sendgrid = mailgun_settings(config), sendgrid_settings(config)
    if mailgun is not None:
        both = "both Mailgun and SendGrid are attached; using Mailgun"
        return mailgun, [both] if sendgrid is not None else []
    return sendgrid if sendgrid is not None else ({}, [])


__all__ = [
    "MAILGUN_VARS",
    "SENDGRID_HOST",
    "derive",
    "mailgun_settings",
    "sendgrid_settings",
]
