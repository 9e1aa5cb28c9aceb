from __future__ import annotations

import pytest

from builder.config import parse_config
from core.errors import ConfigError


def readme(body: str) -> str:
    return f"---\n{body}\n---\n# Title\n"


def test_minimal_gradio_config_gets_hf_defaults():
    config = parse_config(readme("sdk: gradio"))
    assert config.sdk == "gradio"
    assert config.effective_app_file == "app.py"
    assert config.app_port == 7860
    assert config.startup_seconds == 30 * 60
    assert config.unknown_keys == []


def test_hf_keys_are_read():
    config = parse_config(readme(
        "title: Demo\nemoji: 🚀\ncolorFrom: red\ncolorTo: blue\nsdk: gradio\nsdk_version: 4.44.1\n"
        "app_file: src/main.py\napp_port: 8000\nstartup_duration_timeout: 90s\npinned: true\ntags: [a, b]"
    ))
    assert (config.title, config.emoji, config.sdk_version) == ("Demo", "🚀", "4.44.1")
    assert config.effective_app_file == "src/main.py"
    assert config.app_port == 8000 and config.startup_seconds == 90
    assert config.pinned is True and config.tags == ["a", "b"]


def test_unknown_keys_are_kept_for_a_warning():
    assert parse_config(readme("sdk: gradio\nfancy_option: 1")).unknown_keys == ["fancy_option"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("# no front matter\n", "has no YAML front matter"),
        ("---\nsdk: gradio\n", "front matter is not closed"),
        ("---\nsdk: gradio\napp_file: [x\n---\n", "not valid YAML on line"),
        (readme("- a\n- b"), "must be a mapping"),
        (readme("title: x"), "'sdk' is required"),
        (readme("sdk: flask"), "'sdk' is 'flask'; allowed values: gradio, streamlit, docker, static"),
        (readme("sdk: gradio\napp_port: 70000"), "'app_port' is 70000"),
        (readme("sdk: gradio\napp_file: ../etc/passwd"), "must be a relative path inside the repository"),
        (readme("sdk: gradio\napp_file: /etc/passwd"), "must be a relative path inside the repository"),
        (readme("sdk: gradio\nsdk_version: 4.4"), 'write the version in quotes'),
        (readme("sdk: gradio\nstartup_duration_timeout: soon"), "must be a duration"),
    ],
)
def test_bad_front_matter_says_what_is_wrong(text, expected):
    with pytest.raises(ConfigError) as err:
        parse_config(text)
    assert expected in err.value.message


def test_yaml_error_reports_the_readme_line():
    # README line 4 holds the stray scalar after a quoted string.
    text = '---\ntitle: ok\nsdk: gradio\nbad: "x" y\ncolorTo: red\n---\n'
    with pytest.raises(ConfigError) as err:
        parse_config(text)
    assert "not valid YAML on line 4:" in err.value.message


def test_yaml_tags_are_not_executed():
    with pytest.raises(ConfigError):
        parse_config(readme("sdk: !!python/object/apply:os.system ['true']"))
