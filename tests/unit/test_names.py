from __future__ import annotations

import pytest

from core.errors import InvalidName
from core.names import (
    MAX_LABEL,
    parse_space_id,
    subdomain_candidates,
    validate_user_name,
)


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
