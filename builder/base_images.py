"""The runtime base images (``runtime-images/``), built once per machine and reused.

``python -m builder.base_images`` makes sure they all exist and builds only what is missing:

1. the root image: ``SPACES_BASE_IMAGE`` when a registry provides one, otherwise Debian
   bootstrapped with ``debootstrap`` and ``docker import``-ed (no registry needed);
2. ``spaces-python:3.11`` on top of it;
3. ``spaces-gradio:<version>`` with Gradio from the host's wheel cache.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from builder import images, wheels
from core.errors import BuildFailed
from core.settings import Settings, get_settings

log = logging.getLogger(__name__)

RUNTIME_DIR = Path(__file__).resolve().parent.parent / "runtime-images"
PYTHON_IMAGE = "spaces-python:3.11"
GRADIO_IMAGE_REPO = "spaces-gradio"


def default_gradio_version() -> str:
    return (RUNTIME_DIR / "gradio" / "VERSION").read_text().strip()


def gradio_image(version: str | None = None) -> str:
    return f"{GRADIO_IMAGE_REPO}:{version or default_gradio_version()}"


def root_image(settings: Settings) -> str:
    return settings.base_image or f"spaces-root:{settings.debian_suite}"


def _emit(line: str) -> None:
    print(line, flush=True)


def ensure_root(settings: Settings) -> str:
    tag = root_image(settings)
    if images.image_exists(tag):
        return tag
    if settings.base_image:
        raise BuildFailed(
            f"the configured base image {tag} is not present; pull it (docker pull {tag}) "
            "or unset SPACES_BASE_IMAGE to bootstrap one from Debian packages"
        )
    _emit(f"building the root image {tag} from Debian packages (debootstrap, about a minute)")
    with tempfile.TemporaryDirectory(prefix="spaces-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        subprocess.run(
            [
                "debootstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates",
                settings.debian_suite, str(rootfs), settings.debian_mirror,
            ],
            check=True, stdout=subprocess.DEVNULL,
        )
        # Drop downloaded .debs and package lists: they only make the image bigger.
        subprocess.run(["chroot", str(rootfs), "apt-get", "clean"], check=True)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(
            ["docker", "import", "--change", 'CMD ["/bin/bash"]', "-", tag], stdin=tar.stdout, check=True,
            stdout=subprocess.DEVNULL,
        )
        if tar.wait() != 0:
            raise BuildFailed("packing the bootstrapped root file system failed")
    return tag


def ensure_python(settings: Settings, root: str) -> str:
    if not images.image_exists(PYTHON_IMAGE):
        _emit(f"building {PYTHON_IMAGE}")
        images.build_image(RUNTIME_DIR / "python", PYTHON_IMAGE, _emit, buildargs={"ROOT_IMAGE": root})
    return PYTHON_IMAGE


def ensure_gradio(settings: Settings, version: str, emit=_emit) -> str:
    """Build the Gradio runtime image for ``version`` if it is missing; returns its tag."""
    tag = gradio_image(version)
    if images.image_exists(tag):
        return tag
    emit(f"building {tag}: resolving gradio=={version} into the wheel cache")
    with tempfile.TemporaryDirectory(prefix="spaces-req-") as tmp:
        req = Path(tmp) / "requirements.txt"
        req.write_text(f"gradio=={version}\n")
        wheels.resolve(req, settings.wheel_cache, emit, timeout=settings.build_timeout)
    with wheels.serve(settings.wheel_cache) as url:
        images.build_image(
            RUNTIME_DIR / "gradio", tag, emit,
            buildargs={"PYTHON_IMAGE": PYTHON_IMAGE, "GRADIO_VERSION": version, "WHEELS_URL": url},
            host_network=True,
        )
    return tag


def ensure_all() -> None:
    settings = get_settings()
    started = time.monotonic()
    root = ensure_root(settings)
    ensure_python(settings, root)
    ensure_gradio(settings, default_gradio_version())
    _emit(f"runtime images ready ({time.monotonic() - started:.1f} s)")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    try:
        ensure_all()
    except (BuildFailed, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
