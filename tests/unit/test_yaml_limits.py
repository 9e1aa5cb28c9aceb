"""README front matter stays within bounds (issue 17, findings 1 and 2).

A few hundred bytes of nested YAML aliases used to expand into hundreds of megabytes in error
messages (and stall the controller); a 5 MB title was accepted and reached the gallery and the
app's environment. Every case here is refused fast, with a short message naming the key and the limit.
"""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from builder import yaml_limits
from builder.config import TITLE_MAX, is_one_grapheme, parse_config
from core.errors import ConfigError
from core.settings import get_settings


def readme(body: str) -> str:
    return f"---\nsdk: gradio\n{body}\n---\n# Title\n"


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """Each level a list of ``width`` aliases of the one before: ``width ** levels`` values in a few hundred bytes."""
    lines = ["a0: &a0 [" + ",".join(["lol"] * width) + "]"]
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    return readme("\n".join(lines) + f"\ntitle: *a{levels - 1}")


def refusal(text: str) -> str:
    started = time.process_time()  # this process's CPU time: other load on the machine does not count
    with pytest.raises(ConfigError) as err:
        parse_config(text)
    # Expanding the bombs below would take tens of seconds and gigabytes; a refusal takes milliseconds.
    assert time.process_time() - started < 5, "a refusal must not expand what it refuses"
    assert len(err.value.message) < 600, f"the message grew with the input: {len(err.value.message)} characters"
    return err.value.message


@pytest.mark.parametrize("levels", [4, 6, 7])
def test_an_alias_bomb_is_refused_fast_with_a_short_message(levels):
    body = alias_bomb(levels)
    assert len(body) < 600
    message = refusal(body)
    assert "aliases" in message and str(yaml_limits.MAX_VALUES) in message


def test_a_deeper_alias_bomb_is_refused_too():
    refusal(alias_bomb(12))  # 9 ** 12 values: over the depth limit as well


def test_an_alias_bomb_of_long_text_is_refused():
    body = readme("x: &x " + "b" * 1000 + "\ny: [" + ",".join(["*x"] * 400) + "]")
    assert "KiB of text" in refusal(body)


def test_a_few_anchors_and_merge_keys_still_work():
    config = parse_config(readme("tags: &t [demo, nlp]\nmodels: *t\nbase: &b {a: 1}\nother:\n  <<: *b\n  c: 2"))
    assert config.tags == ["demo", "nlp"] and config.models == ["demo", "nlp"]


@pytest.mark.parametrize("body", ["x: &a [*a]", "x: &a {y: *a}"])
def test_an_alias_inside_its_own_value_is_refused(body):
    assert "refers to a value that contains it" in refusal(readme(body))


@pytest.mark.parametrize("body", ["x: " + "[" * 30000 + "]" * 30000,
                                  "".join(" " * i + f"k{i}:\n" for i in range(12)) + " " * 12 + "v: 1"])
def test_deep_nesting_is_refused(body):
    message = refusal(readme(body))
    assert "nest" in message


def test_a_5_mb_title_names_the_key_and_its_limit():
    message = refusal(readme("title: " + "A" * 5_000_000))
    assert "'title'" in message and f"at most {TITLE_MAX}" in message


@pytest.mark.parametrize("length", [TITLE_MAX + 1, 5000])
def test_a_long_title_is_refused(length):
    message = refusal(readme("title: " + "A" * length))
    assert "'title'" in message and f"at most {TITLE_MAX}" in message


def test_a_title_at_the_limit_is_kept():
    assert parse_config(readme("title: " + "A" * TITLE_MAX)).title == "A" * TITLE_MAX


def test_a_long_short_description_names_the_key():
    message = refusal(readme("short_description: " + "x" * 2000))
    assert "'short_description'" in message and "at most 60" in message


@pytest.mark.parametrize("body", ["license: " + "x" * 5000, "tags: [" + "y" * 5000 + "]", "custom: {a: " + "z" * 5000 + "}"])
def test_every_text_value_is_bounded(body):
    assert f"at most {yaml_limits.MAX_TEXT}" in refusal(readme(body))


def test_a_huge_number_is_a_config_error_not_a_crash():
    # Python refuses to convert integers of over 4300 digits: that must not become a 500.
    assert "'app_port'" in refusal(readme("app_port: " + "9" * 5000))


def test_a_quoted_value_is_cut_short():
    message = refusal(readme("app_port: " + "9" * 1000))
    assert "…" in message or "..." in message
    assert "'app_port'" in message and "65535" in message


def test_long_lists_and_mappings_are_refused():
    assert f"at most {yaml_limits.MAX_ITEMS}" in refusal(readme("tags: [" + ",".join(["t"] * 1500) + "]"))
    assert f"at most {yaml_limits.MAX_ITEMS}" in refusal(readme("".join(f"k{i}: 1\n" for i in range(1500))))


def test_a_long_key_is_refused():
    assert f"at most {yaml_limits.MAX_KEY_TEXT}" in refusal(readme("k" * 500 + ": 1"))


def test_front_matter_over_the_size_limit_is_refused():
    lines = "".join(f"k{i}: {'v' * 60}\n" for i in range(1200))  # short lines, 80 KiB
    assert "KiB" in refusal(readme(lines))
    assert "KiB" in refusal("---\nsdk: gradio\n" + lines * 10)  # never closed


def test_many_problems_are_summarised():
    message = refusal(readme("tags: [" + ",".join(["[1]"] * 900) + "]"))
    assert "more problem" in message


def test_many_unknown_keys_give_a_bounded_warning_list():
    config = parse_config(readme("".join(f"unknown{i}: 1\n" for i in range(500))))
    assert len(config.warnings()) <= 11 and "more unknown" in config.warnings()[-1]


@pytest.mark.parametrize("emoji", ["🚀", "👩‍💻", "👍🏽", "🇫🇷", "❤️", "1️⃣", "👨‍👩‍👧‍👦", "🏴󠁧󠁢󠁥󠁮󠁧󠁿", "A", "e\u0301"])
def test_one_emoji_is_one_grapheme(emoji):
    assert is_one_grapheme(emoji)
    assert parse_config(readme(f"emoji: {emoji}")).emoji == emoji


@pytest.mark.parametrize("emoji", ["🚀🚀", "🇫🇷🇫🇷", "ab", "\u200d", "🚀" * 5000])
def test_more_than_one_character_is_not_an_emoji(emoji):
    assert "'emoji'" in refusal(readme(f"emoji: \"{emoji}\""))


def test_quote_is_bounded():
    assert len(yaml_limits.quote(["x" * 10_000] * 10_000)) <= yaml_limits.QUOTE_MAX


@pytest.fixture
def client():
    from controller.app import app as platform_app

    with TestClient(platform_app, base_url=get_settings().public_url(get_settings().domain)) as test_client:
        yield test_client


def test_validate_yaml_refuses_a_bomb_with_a_small_answer(client):
    started = time.process_time()
    answer = client.post("/api/validate-yaml", json={"content": alias_bomb(7)})
    assert time.process_time() - started < 5, "the bomb was expanded (that takes tens of seconds)"
    assert answer.status_code == 400 and len(answer.content) < 1000
    assert "aliases" in answer.json()["errors"][0]["message"]
    assert client.get("/healthz").status_code == 200


def test_validate_yaml_still_accepts_a_good_readme(client):
    answer = client.post("/api/validate-yaml", json={"content": readme("title: Fine\nemoji: 🚀\nunknown: 1")})
    assert answer.status_code == 200 and answer.json()["errors"] == []
