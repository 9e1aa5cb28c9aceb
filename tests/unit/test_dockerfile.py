from __future__ import annotations

from builder.config import parse_config
from builder.deps import Dependencies, deps_dockerfile
from builder.dockerfile import app_dockerfile


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


def test_dependency_layers_go_apt_then_pre_requirements_then_requirements():
    """Wheels resolved in a sandbox, installed from a bind mount with no index, one layer per file."""
    layers = {"spaces-pre-requirements.txt": ["numpy-2.0-cp311-none-any.whl"],
              "spaces-requirements.txt": ["pandas-2.0-cp311-none-any.whl"]}
    text = deps_dockerfile("base:1", Dependencies(("ffmpeg", "libsm6"), "numpy", "pandas"), layers)
    apt = text.index("apt-get install")
    pre = text.index("-r /tmp/spaces-wheels/spaces-pre-requirements.txt")
    req = text.index("-r /tmp/spaces-wheels/spaces-requirements.txt")
    assert apt < pre < req
    assert "ffmpeg libsm6" in text
    assert text.count("pip install --no-index --no-deps") == 2 and "http" not in text
    only_apt = deps_dockerfile("base:1", Dependencies(("ffmpeg",), "", ""), {"spaces-requirements.txt": []})
    assert "spaces-wheels" not in only_apt


def test_streamlit_runs_the_app_file_on_app_port():
    config = parse_config("---\nsdk: streamlit\napp_file: ui.py\n---\n")
    text = app_dockerfile(config, "spaces-streamlit:1", {})
    assert 'CMD ["streamlit", "run", "ui.py", "--server.port", "7860", "--server.address", "0.0.0.0"' in text
