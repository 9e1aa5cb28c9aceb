"""Building Docker images with the Docker Engine API (docker-py), streaming the build output."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import docker
import docker.errors

from core.errors import BackendError, BuildFailed

log = logging.getLogger(__name__)


@lru_cache
def docker_client() -> docker.DockerClient:
    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except docker.errors.DockerException as exc:
        raise BackendError("the Docker engine is not reachable", detail=str(exc)) from exc
    return client


def image_exists(tag: str) -> bool:
    try:
        docker_client().images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def build_image(
    context: Path,
    tag: str,
    emit: Callable[[str], None],
    *,
    dockerfile: str = "Dockerfile",
    buildargs: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    nocache: bool = False,
    timeout: int = 1800,
) -> str:
    """Build ``context`` into ``tag``, sending each output line to ``emit``; returns the image id."""
    api = docker_client().api
    tail: list[str] = []
    image_id = ""
    try:
        stream = api.build(
            path=str(context),
            dockerfile=dockerfile,
            tag=tag,
            buildargs=buildargs or {},
            labels=labels or {},
            rm=True,
            forcerm=True,
            nocache=nocache,
            decode=True,
            timeout=timeout,
        )
        for chunk in stream:
            if "stream" in chunk:
                for line in chunk["stream"].splitlines():
                    if line.strip():
                        emit(line.rstrip())
                        tail = [*tail, line.rstrip()][-10:]
            elif "error" in chunk:
                message = chunk["error"].strip()
                emit(message)
                raise BuildFailed(f"the image build failed: {message}", detail="\n".join(tail))
            elif "aux" in chunk and "ID" in chunk["aux"]:
                image_id = chunk["aux"]["ID"]
    except docker.errors.APIError as exc:
        raise BuildFailed(f"the image build failed: {exc.explanation or exc}") from exc
    except docker.errors.DockerException as exc:  # e.g. read timeout from the engine
        raise BuildFailed(f"the image build failed: {exc}") from exc
    if not image_id:
        built = docker_client().images.get(tag).id
        assert built is not None  # an image the engine lists has an id
        image_id = built
    return image_id


def image_labels(tag: str) -> dict[str, str] | None:
    """The image's labels, or None if there is no such image."""
    try:
        return docker_client().images.get(tag).labels or {}
    except docker.errors.ImageNotFound:
        return None
