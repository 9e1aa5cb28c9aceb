from __future__ import annotations

import itertools
import re

import pytest

from core.errors import InvalidName
from core.names import (
    MAX_LABEL,
    app_image_repo,
    container_safe,
    legacy_container_safe,
    parse_space_id,
    subdomain_candidates,
    validate_user_name,
)
from worker.backends.docker import legacy_volume_name, volume_name


@pytest.mark.parametrize("name", ["a", "hello", "my-space-2", "0x", "a" * 63])
def test_valid_names(name):
    assert parse_space_id("alice", name) == f"alice/{name}"


@pytest.mark.parametrize("name", ["", "A", "Hello", "my_space", "-x", "x-", "a.b", "a" * 64, "ü", "a b"])
def test_invalid_names_name_the_rule(name):
    with pytest.raises(InvalidName) as err:
        parse_space_id("alice", name)
    assert "lowercase letters a-z, digits 0-9 and '-'" in err.value.message
    assert repr(name) in err.value.message
    assert err.value.status == 400


def test_reserved_user_names_are_refused():
    with pytest.raises(InvalidName, match="reserved"):
        validate_user_name("api")


def test_subdomain_prefers_owner_dash_name():
    assert subdomain_candidates("alice/hello")[0] == "alice-hello"


def test_ambiguous_ids_have_distinct_fallbacks():
    a, b = subdomain_candidates("a-b/c"), subdomain_candidates("a/b-c")
    assert a[0] == b[0] == "a-b-c"  # the readable label is shared ...
    assert a[1] != b[1]  # ... so the second one to claim it gets its own hashed label


def test_long_labels_are_shortened_stably_and_distinctly():
    long_owner = "o" * 40
    one = subdomain_candidates(f"{long_owner}/{'n' * 40}")
    two = subdomain_candidates(f"{long_owner}/{'n' * 39}m")
    assert len(one) == 1 and len(one[0]) <= MAX_LABEL
    assert one == subdomain_candidates(f"{long_owner}/{'n' * 40}")
    assert one[0] != two[0]
    assert not one[0].startswith("-") and not one[0].endswith("-")


# Docker's grammars: image repository path components, and container and volume names.
_REPO_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_OBJECT_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")


def test_colliding_ids_get_distinct_docker_names():
    """user ab + Space x--vol and user ab--x + Space vol shared one volume and one image repository."""
    one, two = "ab/x--vol", "ab--x/vol"
    assert legacy_container_safe(one) == legacy_container_safe(two)  # the old names collided ...
    assert container_safe(one) != container_safe(two)  # ... the new ones do not
    assert app_image_repo(one) != app_image_repo(two)
    assert volume_name(one) != volume_name(two)
    assert legacy_volume_name(one) == legacy_volume_name(two) == "spaces-data-ab--x--vol"


def test_docker_names_are_one_to_one_over_tricky_ids():
    parts = ["a", "b", "a-b", "b-c", "a--b", "x--vol", "ab", "ab--x", "vol", "0", "a" * 63]
    ids = [f"{o}/{n}" for o, n in itertools.product(parts, parts)]
    for make in (container_safe, app_image_repo, volume_name):
        names = [make(i) for i in ids]
        assert len(set(names)) == len(ids), make.__name__


@pytest.mark.parametrize("space_id", ["a/b", "ab--x/vol", "a-b/c-d", f"{'o' * 63}/{'n' * 63}", "0/9"])
def test_docker_names_are_valid_docker_names(space_id):
    repo = app_image_repo(space_id)
    assert len(repo) <= 255 and all(_REPO_COMPONENT.match(c) for c in repo.split("/")), repo
    assert _OBJECT_NAME.match(volume_name(space_id))
    assert _OBJECT_NAME.match(f"space-{container_safe(space_id)}-12-abcdef")


@pytest.mark.parametrize("space_id", ["a.b/c", "a/b.c", "a/b/c", "nobody", "A/b"])
def test_docker_names_refuse_ids_that_are_not_two_labels(space_id):
    with pytest.raises(InvalidName):
        container_safe(space_id)
