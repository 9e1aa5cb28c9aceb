"""Building a Docker Space's own Dockerfile with BuildKit, through the Docker CLI.

BuildKit is what gives Hugging Face's Docker Spaces their build-time secrets
(``RUN --mount=type=secret,id=NAME``): each secret is handed over as a file that exists only for
the ``RUN`` step that mounts it, so it never lands in a layer. docker-py speaks only the classic
builder, hence the CLI: Debian's ``docker.io`` 20.10 client builds with BuildKit when
``DOCKER_BUILDKIT=1``; a newer client needs its ``buildx`` plugin (``docker buildx build --load``).
"""

from __future__ import annotations

import functools
import logging
import os
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from core.errors import BuildFailed
from core.settings import get_settings

log = logging.getLogger(__name__)


@functools.lru_cache
def build_command(cli: str) -> tuple[str, ...]:
    """How this machine's Docker CLI runs a BuildKit build."""
    if subprocess.run([cli, "buildx", "version"], capture_output=True, check=False).returncode == 0:
        return (cli, "buildx", "build", "--load")
    version = subprocess.run([cli, "version", "--format", "{{.Client.Version}}"], capture_output=True, text=True, check=False)
    major = version.stdout.strip().split(".")[0]
    if version.returncode != 0 or not major.isdigit():
        raise BuildFailed(f"the Docker CLI {cli} does not answer: {version.stderr.strip()}")
    if int(major) >= 23:
        raise BuildFailed(f"the Docker CLI {cli} ({version.stdout.strip()}) needs the buildx plugin for BuildKit builds")
    return (cli, "build")


def build(
    context: Path,
    dockerfile: Path,
    tag: str,
    emit: Callable[[str], None],
    *,
    buildargs: dict[str, str],
    secrets: dict[str, str],
    nocache: bool = False,
    labels: dict[str, str] | None = None,
) -> None:
    """Build ``context`` with ``dockerfile`` into ``tag``; secrets are offered as BuildKit secret mounts."""
    cli = get_settings().docker_cli
    with tempfile.TemporaryDirectory(prefix="spaces-secrets-") as tmp:
        argv = [*build_command(cli), "--progress=plain", "--file", str(dockerfile), "--tag", tag]
        if nocache:
            argv.append("--no-cache")
        for key, value in sorted((labels or {}).items()):
            argv += ["--label", f"{key}={value}"]
        for key, value in sorted(buildargs.items()):
            argv += ["--build-arg", f"{key}={value}"]
        for key, value in sorted(secrets.items()):
            path = Path(tmp) / key
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(value)
            argv += ["--secret", f"id={key},src={path}"]
        argv.append(str(context))
        env = {**os.environ, "DOCKER_BUILDKIT": "1"}
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace", env=env)
        tail: list[str] = []
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                line = line.rstrip()
                if line:
                    emit(line)
                    tail = [*tail, line][-8:]
            rc = proc.wait()
        finally:
            if proc.poll() is None:  # interrupted (timeout, superseded): stop the build
                proc.kill()
                proc.wait()
    if rc != 0:
        reason = next((t for t in reversed(tail) if "ERROR" in t or "error" in t), tail[-1] if tail else "no output")
        raise BuildFailed(f"the image build failed: {reason}")
