"""app.json, heroku.yml and Dockerfile.lite: validated against the shipped schemas and linters,
and checked against each other and against what the launcher expects."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from appwrite_heroku.config.budget import DEFAULT_PROFILE
from appwrite_heroku.config.processes import ROLES
from appwrite_heroku.config.variables import PINNED_APPWRITE_VERSION
from appwrite_heroku.dyno.launcher import Layout
from appwrite_heroku.release.tag_guard import RELEASE_BUILD_ARG, RELEASE_LABEL
from helpers import RECORD_LINES

ROOT = Path(__file__).resolve().parent.parent
APP_JSON = json.loads((ROOT / "app.json").read_text())
HEROKU_YML = yaml.safe_load((ROOT / "heroku.yml").read_text())
DOCKERFILE = (ROOT / "Dockerfile.lite").read_text()
VARIABLES = json.loads((ROOT / "src/appwrite_heroku/config/data/appwrite-variables-1.9.6.json")
                       .read_text())["variables"]


def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((ROOT / "schemas" / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


APP_SCHEMA = validator("app-json.schema.json")
YML_SCHEMA = validator("heroku-yml.schema.json")


def test_app_json_validates() -> None:
    APP_SCHEMA.validate(APP_JSON)


def test_heroku_yml_validates() -> None:
    YML_SCHEMA.validate(HEROKU_YML)


@pytest.mark.slow
def test_check_jsonschema_cli_agrees() -> None:
    for schema, document in (("app-json.schema.json", "app.json"),
                             ("heroku-yml.schema.json", "heroku.yml")):
        done = subprocess.run(["check-jsonschema", "--schemafile", f"schemas/{schema}",
                               document], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_yamllint_strict() -> None:
    done = subprocess.run(["yamllint", "-s", "heroku.yml"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout


def with_change(document: dict, path: list, value: object) -> dict:
    changed = json.loads(json.dumps(document))
    target = changed
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return changed


@pytest.mark.parametrize(("path", "value"), [
    (["name"], "a name that is far longer than thirty characters"),
    (["stack"], "cedar"),
    (["succes_url"], "/console"),  # a typo of a key
    (["env", "_APP_OPENSSL_KEY_V1", "generator"], "random"),
    (["env", "_APP_OPENSSL_KEY_V1", "value"], "fixed"),  # a value and a generator
    (["env", "BAD-NAME"], "x"),
    (["env", "_APP_SMTP_HOST", "required"], "no"),
    (["formation", "web", "quantity"], -1),
    (["formation", "web", "dyno_size"], "basic"),
    (["addons", 0], {"as": "REDIS"}),  # no plan
    (["addons", 1], "JawsDB Maria"),
    (["logo"], "not a url"),
    (["buildpacks"], [{"url": "heroku/python"}]),  # buildpacks with stack container
])
def test_app_schema_rejects_known_bad(path: list, value: object) -> None:
    assert not APP_SCHEMA.is_valid(with_change(APP_JSON, path, value))


@pytest.mark.parametrize(("path", "value"), [
    (["build"], KeyError),
    (["build", "docker"], {}),
    (["build", "docker", "web"], {"target": "x"}),  # no dockerfile
    (["release", "command"], "appwrite-heroku launch release"),  # must be a list
    (["release", "image"], "web worker"),
    (["run", "web"], 5),
    (["run", "web dyno"], "x"),
    (["deploy"], {}),  # not a heroku.yml key
    (["build", "config", "APPWRITE_VERSION"], ["1.9.6"]),
])
def test_yml_schema_rejects_known_bad(path: list, value: object) -> None:
    assert not YML_SCHEMA.is_valid(with_change(HEROKU_YML, path, value))


def test_manifests_agree_with_each_other_and_the_launcher() -> None:
    built = set(HEROKU_YML["build"]["docker"])
    assert HEROKU_YML["release"]["image"] in built
    assert set(APP_JSON["formation"]) <= set(HEROKU_YML["run"]) <= built
    assert APP_JSON["stack"] == "container"
    assert APP_JSON["success_url"] == "/console"
    for process, command in HEROKU_YML["run"].items():
        role = command.split()[-1]
        assert command == f"appwrite-heroku launch {role}" and role in ROLES
        assert role == process
    assert HEROKU_YML["release"]["command"] == ["appwrite-heroku launch release"]
    for name in HEROKU_YML["build"]["docker"].values():
        assert (ROOT / name).is_file()


def test_app_json_env_names_are_appwrite_variables_and_secrets_generated() -> None:
    assert set(APP_JSON["env"]) <= set(VARIABLES)
    for name in ("_APP_OPENSSL_KEY_V1", "_APP_EXECUTOR_SECRET"):
        assert APP_JSON["env"][name]["generator"] == "secret"
    assert APP_JSON["env"]["_APP_USAGE_STATS"]["value"] == "disabled"
    optional = [n for n in APP_JSON["env"] if n.startswith(("_APP_SMTP_", "_APP_STORAGE_S3_"))]
    assert optional and all(APP_JSON["env"][n]["required"] is False for n in optional)


def test_addons_and_formation_are_the_default_profiles() -> None:
    # the budget's default profile: the plans and sizes Appwrite's worst case fits today.
    profile = DEFAULT_PROFILE.setup()
    assert APP_JSON["addons"] == [profile.redis_plan.name, profile.db_plan.name]
    assert APP_JSON["formation"] == {spec.role: {"quantity": spec.quantity,
                                                 "size": spec.size.name}
                                     for spec in profile.specs}


@pytest.mark.slow
def test_hadolint_clean() -> None:
    done = subprocess.run(["hadolint", "Dockerfile.lite"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_hadolint_can_fail(tmp_path: Path) -> None:
    """The lint really runs: an unpinned, cache-keeping apk line is reported."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM alpine:3.20\nRUN apk add nginx\n")
    done = subprocess.run(["hadolint", str(bad)], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "DL3019" in done.stdout


def instructions() -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", DOCKERFILE)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def test_dockerfile_shape() -> None:
    found = instructions()
    keywords = [k for k, _ in found]
    assert not {"VOLUME", "EXPOSE", "HEALTHCHECK", "STOPSIGNAL", "SHELL"} & set(keywords)
    assert ("ARG", f"APPWRITE_VERSION={PINNED_APPWRITE_VERSION}") in found
    assert found[-1][0] == "CMD"
    final_stage = keywords[len(keywords) - 1 - keywords[::-1].index("FROM"):]
    assert ("FROM", "appwrite/appwrite:${APPWRITE_VERSION}") in found
    # Layers this image adds on top of Appwrite's (Heroku dislikes images beyond 40 layers).
    assert sum(k in ("RUN", "COPY", "ADD") for k in final_stage) <= 5
    run = next(rest for k, rest in found if k == "RUN")
    for package in ("python3", "nginx", "curl"):
        assert f" {package}" in run
    assert "chmod -R a+rwX /storage" in run
    assert HEROKU_YML["build"]["config"]["APPWRITE_VERSION"] == PINNED_APPWRITE_VERSION


def test_dockerfile_labels_the_image_with_the_release_record_after_every_layer() -> None:
    """The engine passes the record as the build argument and reads it back as this label
    (tag_guard.py): the lines test images use are these very lines, and they come after the
    last layer, so that a new tag changes the image's config and no layer."""
    assert RECORD_LINES in DOCKERFILE
    found = instructions()
    keywords = [k for k, _ in found]
    label = found.index(("LABEL", f'{RELEASE_LABEL}="${{{RELEASE_BUILD_ARG}}}"'))
    assert found[label - 1] == ("ARG", f'{RELEASE_BUILD_ARG}=""')
    assert max(i for i, k in enumerate(keywords) if k in ("RUN", "COPY", "ADD")) < label - 1


def test_dockerfile_copies_only_what_the_context_has_and_the_launcher_expects() -> None:
    copies = [rest.split() for k, rest in instructions() if k == "COPY"]
    for sources_and_target in copies:
        if sources_and_target[0].startswith("--from="):
            source, target = sources_and_target[1:]
            # The console lands where the launcher serves it from by default.
            assert target == str(Layout.from_env({}, "web").console_root / "console")
            assert source == target  # the console image's own location
            continue
        for source in sources_and_target[:-1]:
            assert (ROOT / source).exists(), source
    ignored = (ROOT / ".dockerignore")
    if ignored.exists():
        patterns = [line.strip() for line in ignored.read_text().splitlines()
                    if line.strip() and not line.startswith("#")]
        for needed in ("src", "pyproject.toml", "README.md", "Dockerfile.lite", "heroku.yml"):
            assert needed not in patterns


def test_files_that_cannot_import_python_pin_the_same_appwrite_version() -> None:
    """action.yml, Dockerfile.lite and heroku.yml repeat the version the code takes from one
    constant; a bump that misses one of them fails here."""
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["inputs"]["appwrite-version"]["default"] == PINNED_APPWRITE_VERSION
    assert re.search(r"^ARG APPWRITE_VERSION=(\S+)$", DOCKERFILE, re.M)[1] == (  # type: ignore[index]
        PINNED_APPWRITE_VERSION)
    assert str(HEROKU_YML["build"]["config"]["APPWRITE_VERSION"]) == PINNED_APPWRITE_VERSION
