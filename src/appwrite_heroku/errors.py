"""The project's error types, and the exit status each one means.

Every error a user can cause or meet is one of these, with a one-line message that names
what is wrong and how to fix it. Messages never carry secret values: callers pass names
(``JAWSDB_URL``), not contents.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1  # the deploy ran and failed (release phase, health), rolled back or not
EXIT_USAGE = 2  # bad input: fix the command line, the config or the environment
EXIT_PLATFORM = 3  # Heroku/GitHub/registry kept failing after retries


class AppwriteHerokuError(Exception):
    """Base of every error this project reports to a user."""

    exit_status = EXIT_FAILED


class InputError(AppwriteHerokuError):
    """Bad input: a malformed URL, a missing variable, a wrong flag. Exit status 2."""

    exit_status = EXIT_USAGE


class NotReadyError(AppwriteHerokuError):
    """An add-on exists but is not usable yet (JawsDB placeholder URL): wait, then retry."""

    exit_status = EXIT_FAILED


class PlatformError(AppwriteHerokuError):
    """A remote platform (Heroku API, registry, GitHub) failed after retries."""

    exit_status = EXIT_PLATFORM


class ReleaseFailed(AppwriteHerokuError):
    """The release phase or the health check failed; the run must be red."""

    exit_status = EXIT_FAILED
