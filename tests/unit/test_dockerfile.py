from __future__ import annotations

from builder.config import parse_config
from builder.dockerfile import app_dockerfile, deps_dockerfile


def test_app_layer_copies_code_last_and_runs_as_uid_1000():
    config = parse_config("---\nsdk: gradio\napp_file: main.py\napp_port: 8000\n---\n")
    text = app_dockerfile(config, "spaces-gradio:1.0", {"org.spaces.space": "a/b"})
    lines = text.splitlines()
    assert lines[0] == "FROM spaces-gradio:1.0"
    assert lines[1] == "COPY --chown=1000:1000 . /home/user/app"
    assert "USER 1000" in lines
    assert 'CMD ["python", "main.py"]' in lines
    assert "GRADIO_SERVER_PORT=8000" in text
    assert 'LABEL org.spaces.space="a/b"' in text
    assert sum(line.startswith(("RUN", "COPY")) for line in lines) == 1  # a code change rebuilds one layer


def test_dependencies_install_offline_from_the_wheel_cache():
    text = deps_dockerfile("base:1")
    assert "--no-index" in text and "--find-links" in text
    assert "COPY requirements.txt" in text
