"""The last layers of a Python SDK Space's image: its code, owned by uid 1000, and how to start it.

Layers go from what changes least to what changes most: the SDK's runtime image, then the shared
dependencies image (:mod:`builder.deps`), then this single ``COPY`` of the code — so a code-only
change rebuilds one layer.
"""

from __future__ import annotations

import json

from builder.config import SpaceConfig

APP_DIR = "/home/user/app"


def start_command(config: SpaceConfig) -> list[str]:
    app, port = config.effective_app_file, str(config.app_port)
    if config.sdk == "gradio":
        return ["python", app]
    if config.sdk == "streamlit":
        return ["streamlit", "run", app, "--server.port", port, "--server.address", "0.0.0.0", "--server.headless", "true"]
    raise ValueError(f"sdk {config.sdk!r} brings its own start command")


def label_line(labels: dict[str, str]) -> str:
    return "LABEL " + " ".join(f"{k}={json.dumps(v)}" for k, v in sorted(labels.items()))


def app_dockerfile(config: SpaceConfig, base: str, labels: dict[str, str]) -> str:
    return f"""FROM {base}
COPY --chown=1000:1000 . {APP_DIR}
USER 1000
WORKDIR {APP_DIR}
ENV GRADIO_SERVER_NAME=0.0.0.0 GRADIO_SERVER_PORT={config.app_port} PORT={config.app_port}
EXPOSE {config.app_port}
CMD {json.dumps(start_command(config))}
{label_line(labels)}
"""
