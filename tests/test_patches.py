"""`appwrite-heroku patch-appwrite` on Appwrite 1.9.6's own constants.php, checked by real PHP,
and on its app/http.php (the dispatcher), from the real tree or the Appwrite mirror where this
machine has one. Elsewhere the tree's http.php is a stand-in holding only the text the patch
expects (the project's own patch data: Appwrite's file is not copied into the project); what the
patched dispatcher does is proven on the real Appwrite (test_real_appwrite.py)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from appwrite_heroku.config.database import appwrite_database
from appwrite_heroku.dyno.patches import PATCHES
from shared_tree import patchable_tree, shared_file

ROOT = Path(__file__).resolve().parent.parent
PHP_DIR = Path(__file__).parent / "php"
TARGET = "app/init/constants.php"
HTTP = "app/http.php"
DISPATCH = next(p for p in PATCHES if p.path == HTTP)
MIRROR = Path("/work/.mirror/appwrite+appwrite/repo")
REAL_TREE = Path(os.environ.get("APPWRITE_REAL_TREE", "/opt/appwrite"))
BOTH = ("patched app/init/constants.php: APP_DATABASE from _APP_DB_SCHEMA (default appwrite)\n"
        f"patched app/http.php: {DISPATCH.summary}\n")


@pytest.fixture
def pinned() -> Path:
    """Appwrite 1.9.6's constants.php from the shared tree (skips without it)."""
    return shared_file("appwrite", "constants-1.9.6.php")


@pytest.fixture
def code_dir(tmp_path: Path, pinned: Path) -> Path:
    """A copy of the parts of Appwrite's tree the patches touch."""
    code = tmp_path / "code"
    patchable_tree(code)
    return code


@pytest.fixture
def real_http() -> str:
    """Appwrite 1.9.6's app/http.php: from the mirror, else the real tree (skips without)."""
    if MIRROR.is_dir():
        return subprocess.run(["git", "-C", str(MIRROR), "show", "1.9.6:app/http.php"],
                              capture_output=True, text=True, check=True).stdout
    if (REAL_TREE / HTTP).is_file():
        return (REAL_TREE / HTTP).read_text()
    pytest.skip("Appwrite 1.9.6's app/http.php is not on this machine (the mirror or the "
                "real tree, docs/real-appwrite.md)")


def patch(code: Path | str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "appwrite_heroku", "patch-appwrite", str(code)],
                          capture_output=True, text=True, timeout=60)


def php_app_database(constants: Path, schema: str | None) -> str:
    """APP_DATABASE as PHP computes it from the file, with `_APP_DB_SCHEMA` set or unset."""
    env = {key: value for key, value in os.environ.items() if key != "_APP_DB_SCHEMA"}
    if schema is not None:
        env["_APP_DB_SCHEMA"] = schema
    done = subprocess.run(["php", str(PHP_DIR / "app_database.php"), str(constants)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    value: str = json.loads(done.stdout)
    return value


@pytest.mark.services
def test_patch_applies_and_php_accepts_the_file(code_dir: Path) -> None:
    done = patch(code_dir)
    assert done.returncode == 0, done.stderr
    assert done.stdout == BOTH
    text = (code_dir / TARGET).read_text()
    assert "const APP_DATABASE = 'appwrite';" not in text
    assert text.count("System::getEnv('_APP_DB_SCHEMA', 'appwrite')") == 1
    lint = subprocess.run(["php", "-l", str(code_dir / TARGET)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


@pytest.mark.slow
def test_only_the_one_line_changes(code_dir: Path, pinned: Path) -> None:
    patch(code_dir)
    before, after = pinned.read_text().splitlines(), (code_dir / TARGET).read_text().splitlines()
    assert len(before) == len(after)
    changed = [number for number, (old, new) in enumerate(zip(before, after), 1) if old != new]
    assert changed == [181]  # app/init/constants.php:181 at 1.9.6


@pytest.mark.services
@pytest.mark.parametrize(("schema", "expected"), [
    (None, "appwrite"),  # unset: Appwrite's own name
    ("", "appwrite"),  # empty: System::getEnv's `?:` falls back too
    ("kx8v2n4q9l3m5p7r", "kx8v2n4q9l3m5p7r"),  # JawsDB's generated name
    ("heroku_0123abcd4567ef8", "heroku_0123abcd4567ef8"),  # ClearDB's
])
def test_patched_constant_under_real_php(code_dir: Path, schema: str | None,
                                         expected: str) -> None:
    patch(code_dir)
    assert php_app_database(code_dir / TARGET, schema) == expected
    # The launcher's rule is the rule PHP runs.
    settings = {} if schema is None else {"_APP_DB_SCHEMA": schema}
    assert appwrite_database(settings) == expected


@pytest.mark.services
def test_unpatched_file_ignores_the_schema(pinned: Path) -> None:
    """What the patch is for: Appwrite 1.9.6 as shipped always says `appwrite`."""
    assert php_app_database(pinned, "kx8v2n4q9l3m5p7r") == "appwrite"


def test_launcher_rule_drops_what_the_adapter_drops() -> None:
    # utopia-php/database's Adapter::filter keeps [A-Za-z0-9_-] only.
    assert appwrite_database({"_APP_DB_SCHEMA": "my.db$1"}) == "mydb1"
    assert appwrite_database({"_APP_DB_SCHEMA": "0"}) == "appwrite"  # PHP: "0" is falsy


@pytest.mark.slow
def test_second_run_leaves_the_file_byte_identical(code_dir: Path) -> None:
    assert patch(code_dir).returncode == 0
    first = hashlib.sha256((code_dir / TARGET).read_bytes()).hexdigest()
    mtime = (code_dir / TARGET).stat().st_mtime_ns
    again = patch(code_dir)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == [f"already {line}"
                                         for line in BOTH.splitlines()]
    assert hashlib.sha256((code_dir / TARGET).read_bytes()).hexdigest() == first
    assert (code_dir / TARGET).stat().st_mtime_ns == mtime  # not even rewritten


@pytest.mark.slow
def test_file_mode_survives_the_atomic_write(code_dir: Path) -> None:
    (code_dir / TARGET).chmod(0o640)
    patch(code_dir)
    assert (code_dir / TARGET).stat().st_mode & 0o777 == 0o640
    assert [p.name for p in (code_dir / "app" / "init").iterdir()] == ["constants.php"]


@pytest.mark.slow
def test_changed_upstream_text_fails_naming_file_and_text(code_dir: Path) -> None:
    target = code_dir / TARGET
    target.write_text(target.read_text().replace("const APP_DATABASE = 'appwrite';",
                                                 "const APP_DATABASE = 'appwrite_v2';"))
    before = target.read_bytes()
    done = patch(code_dir)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert str(target) in done.stderr
    assert PATCHES[0].expected in done.stderr
    assert "Traceback" not in done.stderr
    assert target.read_bytes() == before


@pytest.mark.slow
def test_text_found_twice_is_refused(code_dir: Path) -> None:
    target = code_dir / TARGET
    target.write_text(target.read_text() + "\nconst APP_DATABASE = 'appwrite';\n")
    done = patch(code_dir)
    assert done.returncode == 1 and "more than once" in done.stderr
    assert done.stderr.count("\n") == 1


@pytest.mark.services  # php -l
def test_dispatch_patch_changes_one_line_of_the_real_http_php(tmp_path: Path,
                                                              real_http: str) -> None:
    """On Appwrite 1.9.6's own dispatcher: the one `if ($risky)` line (app/http.php:143),
    and the file stays valid PHP."""
    code = tmp_path / "code"
    (code / "app" / "init").mkdir(parents=True)
    (code / TARGET).write_text("<?php\nconst APP_DATABASE = 'appwrite';\n")
    (code / HTTP).write_text(real_http)
    done = patch(code)
    assert done.returncode == 0, done.stderr
    after = (code / HTTP).read_text().splitlines()
    before = real_http.splitlines()
    assert len(before) == len(after)
    changed = [number for number, (old, new) in enumerate(zip(before, after), 1) if old != new]
    assert changed == [143]
    assert after[142].startswith("        if ($risky && $riskyWorkers < $totalWorkers) {")
    lint = subprocess.run(["php", "-l", str(code / HTTP)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


@pytest.mark.slow
def test_dispatch_patch_needs_its_text(code_dir: Path) -> None:
    """An Appwrite whose dispatcher changed fails the build naming http.php, and nothing is
    written, constants.php included."""
    (code_dir / HTTP).write_text("<?php\n        if ($isRisky) {\n        }\n")
    before = (code_dir / TARGET).read_bytes()
    done = patch(code_dir)
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert str(code_dir / HTTP) in done.stderr and "Traceback" not in done.stderr
    assert (code_dir / TARGET).read_bytes() == before


@pytest.mark.slow
def test_tree_without_the_file_fails_naming_it(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    done = patch(tmp_path)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and str(tmp_path / TARGET) in done.stderr
    assert PATCHES[0].expected in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_missing_directory_is_one_line_exit_2(tmp_path: Path) -> None:
    done = patch(tmp_path / "nowhere")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "is not a directory" in done.stderr
    assert "Traceback" not in done.stderr


def test_lite_image_patches_appwrite_at_build_time() -> None:
    """After the package is installed, on the code directory the launcher runs Appwrite from."""
    from appwrite_heroku.dyno.launcher import Layout

    dockerfile = (ROOT / "Dockerfile.lite").read_text()
    install = dockerfile.index("pip install --no-cache-dir --no-deps /opt/appwrite-heroku/src")
    code_dir = Layout.from_env({}, "web").code_dir
    run = dockerfile.index(f"venv/bin/appwrite-heroku patch-appwrite {code_dir} ")
    assert install < run
    assert dockerfile.index("FROM appwrite/appwrite:") < run
