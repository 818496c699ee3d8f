"""The stand-in's pure parts: Range parsing and paging, config-var merging and Heroku's release
wording, and the schema matcher."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from standins.heroku_schema import PlatformSchema, default_schema_path
from standins.heroku_state import (
    MAX_PAGE,
    Range,
    config_change,
    describe_config_change,
    page,
    parse_range,
)


@pytest.fixture(scope="module")
def schema() -> PlatformSchema:
    return PlatformSchema(default_schema_path())


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, Range()),
        ("version ..; max=1, order=desc", Range(max=1, order="desc")),
        ("version ]7..; max=3, order=desc", Range(start="7", exclusive_start=True, max=3,
                                                  order="desc")),
        ("version 3..5", Range(start="3", end="5")),
        ("version ..; order=desc,max=10;", Range(max=10, order="desc")),
        ("id ..; ;", Range(field="id")),
        ("version ..; max=5000", Range(max=MAX_PAGE)),
    ],
)
def test_parse_range(header: str | None, expected: Range) -> None:
    assert parse_range(header) == expected


@pytest.mark.parametrize("header", ["name ..", "version", "version ..; max=0",
                                    "version ..; order=sideways", "version ..; color=red"])
def test_parse_range_refuses_what_it_cannot_honour(header: str) -> None:
    with pytest.raises(ValueError):
        parse_range(header)


@given(st.integers(0, 60), st.integers(1, 25), st.sampled_from(["asc", "desc"]))
def test_following_next_range_visits_every_release_once_in_order(
    count: int, size: int, order: str
) -> None:
    items = [{"version": v, "id": f"id-{v}"} for v in range(1, count + 1)]
    seen, header = [], f"version ..; max={size}, order={order}"
    for _ in range(count + 2):
        chunk, more = page(items, parse_range(header))
        assert len(chunk) <= size
        seen += [item["version"] for item in chunk]
        if more is None:
            break
        header = more
    expected = list(range(1, count + 1))
    assert seen == (expected if order == "asc" else expected[::-1])


# Config var names: [A-Z_]{1,6} (from_regex draws the same set at a few times the cost).
keys = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ_", min_size=1, max_size=6)


@given(st.dictionaries(keys, st.text(max_size=5)),
       st.dictionaries(keys, st.none() | st.text(max_size=5)))
def test_config_change_merges_and_deletes(
    current: dict[str, str], patch: dict[str, str | None]
) -> None:
    new, changed, removed = config_change(current, patch)
    for key, value in patch.items():
        assert new.get(key) == value
    for key in set(current) - set(patch):
        assert new[key] == current[key]
    assert set(changed) == {k for k, v in patch.items() if v is not None and current.get(k) != v}
    assert set(removed) == {k for k, v in patch.items() if v is None and k in current}
    assert (new == current) == (not changed and not removed)


def test_release_descriptions_use_herokus_wording() -> None:
    assert describe_config_change(["A"], []) == "Set A config var"
    assert describe_config_change(["A", "B"], []) == "Set A, B config vars"
    assert describe_config_change([], ["C"]) == "Remove C config var"
    assert describe_config_change(["A"], ["C", "D"]) == (
        "Set A config var and remove C, D config vars")


def test_schema_matching(schema: PlatformSchema) -> None:
    routes = schema.routes("POST", "/apps/my-app/releases")
    assert {r.link.title for r in routes} == {"Create", "Rollback"}
    assert schema.routes("GET", "/apps/my-app/no-such-thing") == []
    docker = schema.routes("PATCH", "/apps/my-app/formation", "3.docker-releases")
    assert docker[0].link.variant == "3.docker-releases"
    plain = schema.routes("PATCH", "/apps/my-app/formation")
    assert [r.link.variant for r in plain] == ["3"]
    image = {"updates": [{"type": "web", "docker_image": "sha256:" + "a" * 64}]}
    assert schema.body_problems(docker[0].link, image) == []
    assert schema.body_problems(plain[0].link, image)
    short = {"updates": [{"type": "web", "docker_image": "sha256:abc"}]}
    assert schema.body_problems(docker[0].link, short)
    typo = {"updates": [{"type": "web", "docker_imag": "sha256:" + "a" * 64}]}
    assert schema.body_problems(docker[0].link, typo)
    (info,) = schema.routes("GET", "/apps/01234567-89ab-cdef-0123-456789abcdef/releases/12")
    assert schema.path_problems(info) == []
    (bad,) = schema.routes("GET", "/apps/x/releases/v12")
    assert len(schema.path_problems(bad)) == 2
