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


def test_dependency_layers_go_apt_then_the_sandbox_resolved_wheels():
    """pre-requirements and requirements are resolved together in a sandbox; the image only installs
    those wheels, from a bind mount, with no index: nothing in this build fetches or builds Python code."""
    text = deps_dockerfile("base:1", Dependencies(("ffmpeg", "libsm6"), "numpy", "pandas"), True)
    apt = text.index("apt-get install")
    wheels = text.index("RUN --mount=type=bind,source=wheels,target=/tmp/spaces-wheels")
    assert apt < wheels
    assert "ffmpeg libsm6" in text
    assert "pip install --no-index --no-deps /tmp/spaces-wheels/*.whl" in text
    assert "requirements.txt" not in text and "http" not in text
    assert "spaces-wheels" not in deps_dockerfile("base:1", Dependencies(("ffmpeg",), "", ""), False)


def test_streamlit_runs_the_app_file_on_app_port():
    config = parse_config("---\nsdk: streamlit\napp_file: ui.py\n---\n")
    text = app_dockerfile(config, "spaces-streamlit:1", {})
    assert 'CMD ["streamlit", "run", "ui.py", "--server.port", "7860", "--server.address", "0.0.0.0"' in text
