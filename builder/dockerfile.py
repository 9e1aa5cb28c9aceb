"""Dockerfiles generated per SDK.

Layers go from what changes least to what changes most: base image (with the SDK), then the
dependencies image (requirements, keyed by their content and shared between Spaces), then the
app's code. A code-only change therefore rebuilds just the last ``COPY``.
"""

from __future__ import annotations

import json

from builder.config import SpaceConfig

APP_DIR = "/home/user/app"


def deps_dockerfile(base: str) -> str:
    """Installs requirements.txt from the host's wheel cache, served at build arg WHEELS_URL."""
    return f"""FROM {base}
ARG WHEELS_URL
COPY requirements.txt /tmp/spaces-requirements.txt
RUN pip install --no-index --find-links "$WHEELS_URL" -r /tmp/spaces-requirements.txt \\
 && rm /tmp/spaces-requirements.txt
"""


def app_dockerfile(config: SpaceConfig, base: str, labels: dict[str, str]) -> str:
    """The last layers of a Space's image: its code, owned by uid 1000, and how to start it."""
    if config.sdk == "gradio":
        command = ["python", config.effective_app_file]
    else:  # other SDKs arrive with the builds issue; the builder refuses them earlier
        raise ValueError(f"no Dockerfile template for sdk {config.sdk!r}")
    return f"""FROM {base}
COPY --chown=1000:1000 . {APP_DIR}
USER 1000
WORKDIR {APP_DIR}
ENV GRADIO_SERVER_NAME=0.0.0.0 GRADIO_SERVER_PORT={config.app_port} PORT={config.app_port}
EXPOSE {config.app_port}
CMD {json.dumps(command)}
LABEL {" ".join(f"{k}={json.dumps(v)}" for k, v in sorted(labels.items()))}
"""
