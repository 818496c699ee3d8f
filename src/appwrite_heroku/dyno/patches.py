"""`appwrite-heroku patch-appwrite CODE_DIR`: the Lite image's changes to Appwrite's source tree.

Each patch is data: a file, the exact text expected there, and its replacement. A target not
found verbatim fails the image build (exit status 1, naming the file and the text), so a new
Appwrite version is looked at rather than shipped unpatched; a tree already patched is left
byte-identical, so the command can run twice.

Why the first patch: Appwrite 1.9.6 keeps every table in a database it names itself.
- app/init/constants.php:181 `const APP_DATABASE = 'appwrite';`, and every Database gets
  `->setDatabase(APP_DATABASE)` (src/Appwrite/Database/Factory.php:23,36,59,81,111;
  app/realtime.php:131,194; app/cli.php:93,195,222; Projects/Http/Projects/Create.php:192).
- utopia-php/database 6.0.0 qualifies every table with it: SQL.php:1962-1965 `getSQLTable`
  gives `` `appwrite`.`_console_…` `` (Postgres.php:2844-2850 `"appwrite"."_console_…"`), and
  `Database::create()` (Database.php:1585-1589) calls the adapter's `create()`: MariaDB.php:32-46
  runs ``CREATE DATABASE `appwrite` `` unless INFORMATION_SCHEMA.SCHEMATA lists it
  (SQL.php:198-240); Postgres.php:154-183 runs `CREATE SCHEMA "appwrite"`, the extensions
  postgis, vector and pg_trgm, and the collation utf8_ci_ai.
- `_APP_DB_SCHEMA` only reaches PDO's `dbname=` (app/init/registers.php:160,293,313,426,429);
  the pooled adapter's `setDatabase($dsn->getPath())` (registers.php:355) is overridden by
  the `setDatabase(APP_DATABASE)` above.
- app/http.php:198-244 retries that create 15 times, 2 s apart, then throws; supervisord
  restarts the API and it fails again. A JawsDB or ClearDB user owns one database with a
  generated name and may not create another ("Access denied … to database 'appwrite'").
So APP_DATABASE is read from `_APP_DB_SCHEMA` (the add-on's own database), defaulting to
`appwrite`. utopia-php/system 0.10.2's `System::getEnv` is `getenv($name) ?: $default`
(src/System/System.php:698-701): an unset, empty or "0" `_APP_DB_SCHEMA` gives `appwrite`,
which is what Appwrite does today (PDO then connects without a default database).
`config.database.appwrite_database` states the same rule for the launcher.

Not patched: with `_APP_DATABASE_SHARED_TABLES` set, Appwrite also names `'appwrite'`
literally (app/http.php:431, Projects/Http/Projects/Create.php:143-144,
Organization/Http/Projects/Create.php:140-141, Databases/Http/Databases/Create.php:113-114).
The Lite never sets it (a multi-tenant Cloud feature); its default is empty.

Why the second: Appwrite 1.9.6's dispatcher (app/http.php:93-175) hands a "risky" request only
to the workers numbered from floor(N x `_APP_RISKY_WORKERS_PERCENT`) up, and when none of them
is idle to `rand(risky, N - 1)`. A request is risky when its Host is in the `riskyDomains` table
(:128), and the task worker puts EVERY domain of the `rules` collection there every 30 s
(:640-702) except the Functions/Sites ones — including the app's own domain, whose `api` rule
the first request to it creates (app/controllers/general.php:1027-1118). From then on every API
request through nginx is risky (nginx sends `Host` on the line the dispatcher reads, :116-121).
The Lite runs every worker "safe" (`_APP_RISKY_WORKERS_PERCENT=100`, settings.py: with one API
worker the safe fallback is `rand(0, -1)`), so the risky range is empty and the fallback is
`rand(N, N - 1)` (:154), which PHP answers with N or N - 1: half the requests go to a worker
that does not exist, Swoole drops them ("invalid target worker-id"), nginx answers 502. At
Appwrite's default 80 % they would all queue on the last fifth of the workers instead. Functions
cannot run on Heroku, so nothing is risky there: with no risky worker configured, a risky
request is dispatched as any other (to an idle worker, else any worker).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import AppwriteHerokuError, InputError


@dataclass(frozen=True)
class Patch:
    path: str  # relative to Appwrite's code directory (/usr/src/code in the image)
    expected: str  # must occur exactly once, verbatim
    replacement: str  # must not contain `expected`: that is how "already applied" is seen
    summary: str


PATCHES: tuple[Patch, ...] = (
    Patch(
        path="app/init/constants.php",
        expected="const APP_DATABASE = 'appwrite';",
        # `const` takes constant expressions only; the file already uses `\define(NAME,
        # System::getEnv(...))` (constants.php:201) and imports Utopia\System\System (line 10).
        replacement=(
            "\\define('APP_DATABASE', System::getEnv('_APP_DB_SCHEMA', 'appwrite'));"
            " // appwrite-heroku: the add-on's database, not one Appwrite may not create"
        ),
        summary="APP_DATABASE from _APP_DB_SCHEMA (default appwrite)",
    ),
    Patch(
        path="app/http.php",
        expected=("        if ($risky) {\n"
                  "            // If risky request, only consider risky workers\n"),
        replacement=(
            "        if ($risky && $riskyWorkers < $totalWorkers) { // appwrite-heroku: no risky"
            " worker, no risky branch\n"
            "            // If risky request, only consider risky workers\n"
        ),
        summary="a risky request with no risky worker is dispatched as any other",
    ),
)


class PatchTargetMissing(AppwriteHerokuError):
    """Appwrite's source no longer holds a text a patch expects: the patch must be reviewed."""


def patched_text(text: str, patch: Patch, where: str) -> str | None:
    """The text with `patch` applied, or None when it already is; raises when it cannot be."""
    count = text.count(patch.expected)
    if count == 1:
        return text.replace(patch.expected, patch.replacement)
    if count == 0 and patch.replacement in text:
        return None
    found = "more than once" if count else "nowhere"
    raise PatchTargetMissing(
        f"{where}: expected {patch.expected!r} exactly once, found it {found}; this Appwrite "
        "version changed the code the patch targets: review PATCHES in appwrite_heroku/patches.py"
    )


def write_atomically(path: Path, text: str) -> None:
    """Readers (and a build killed half-way) see the old file or the new one, never half."""
    mode = path.stat().st_mode & 0o7777
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def apply_patches(code_dir: Path, patches: tuple[Patch, ...] = PATCHES) -> list[str]:
    """Applies every patch, all checked before any file is written; returns one line each."""
    if not code_dir.is_dir():
        raise InputError(f"{code_dir} is not a directory: give Appwrite's code directory "
                         "(/usr/src/code in the appwrite/appwrite image)")
    texts: dict[Path, str] = {}
    report: list[str] = []
    for patch in patches:
        path = code_dir / patch.path
        if path not in texts:
            try:
                texts[path] = path.read_text(encoding="utf-8")
            except OSError as error:
                raise PatchTargetMissing(
                    f"{path}: cannot read it ({type(error).__name__}) to apply "
                    f"{patch.summary}; expected {patch.expected!r} there") from None
        new = patched_text(texts[path], patch, str(path))
        if new is None:
            report.append(f"already patched {patch.path}: {patch.summary}")
        else:
            texts[path] = new
            report.append(f"patched {patch.path}: {patch.summary}")
    for path, text in texts.items():
        if path.read_text(encoding="utf-8") != text:
            write_atomically(path, text)
    return report


def patch_appwrite(args: argparse.Namespace) -> int:
    for line in apply_patches(Path(args.code_dir)):
        print(line)
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds `patch-appwrite CODE_DIR`."""
    parser = subparsers.add_parser(
        "patch-appwrite", help="apply the Lite image's patches to Appwrite's source tree",
        description="Apply the Lite image's patches to Appwrite's code (Dockerfile.lite runs "
                    "this at build time). Exit 0 when applied or already applied; 1 when a "
                    "target text is not found verbatim (a new Appwrite version to review).",
    )
    parser.add_argument("code_dir", metavar="CODE_DIR",
                        help="Appwrite's code directory, /usr/src/code in the image")
    parser.set_defaults(func=patch_appwrite)
