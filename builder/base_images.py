"""The runtime base images (``runtime-images/``), built once per machine and rebuilt only when
their recipe changes.

``python -m builder.base_images`` makes sure the images ``make up`` needs exist:

1. the root image: ``SPACES_BASE_IMAGE`` when a registry provides one, otherwise Debian
   bootstrapped with ``debootstrap`` and ``docker import``-ed (no registry needed);
2. ``spaces-python-slim:3.11`` (stands in for ``python:3.11-slim``) and ``spaces-python:3.11``;
3. ``spaces-gradio:<version>``; Streamlit and static-server images are built the first time a
   Space needs them (a static server image that exists is then rebuilt here when its recipe
   changes, so a fix to its configuration reaches the running server at the next ``make up``).

Each image carries the label ``org.spaces.recipe``: a hash of its Dockerfile folder, build
arguments and parent image. An image whose recipe changed is rebuilt; an unchanged one is reused.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from builder import buildkit, images, wheels
from core.errors import BuildFailed
from core.names import STATIC_SERVER_IMAGE
from core.settings import Settings, get_settings

log = logging.getLogger(__name__)

RUNTIME_DIR = Path(__file__).resolve().parent.parent / "runtime-images"
PYTHON_SLIM_IMAGE = "spaces-python-slim:3.11"
PYTHON_IMAGE = "spaces-python:3.11"
RECIPE_LABEL = "org.spaces.recipe"
ROOT_PACKAGES = ("python3", "python3-venv", "python3-pip", "python-is-python3", "ca-certificates")
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# SDKs whose runtime image installs one pinned package from the wheel cache: sdk -> package.
SDK_PACKAGES = {"gradio": "gradio", "streamlit": "streamlit"}

Emit = Callable[[str], None]


def _print(line: str) -> None:
    print(line, flush=True)


def default_version(sdk: str) -> str:
    return (RUNTIME_DIR / sdk / "VERSION").read_text().strip()


def sdk_image(sdk: str, version: str | None = None) -> str:
    return f"spaces-{sdk}:{version or default_version(sdk)}"


def root_image(settings: Settings) -> str:
    return settings.base_image or f"spaces-root:{settings.debian_suite}"


def _recipe(folder: Path, buildargs: dict[str, str], parent: str, extra: bytes = b"") -> str:
    digest = hashlib.sha256(extra)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.name.encode() + path.read_bytes())
    digest.update(repr(sorted(buildargs.items())).encode())
    parent_id = images.docker_client().images.get(parent).id
    assert parent_id is not None  # an image the engine lists has an id
    digest.update(parent_id.encode())
    return digest.hexdigest()[:24]


def _current(tag: str, recipe: str) -> bool:
    labels = images.image_labels(tag)
    return labels is not None and labels.get(RECIPE_LABEL) == recipe


def ensure_image(
    name: str, tag: str, parent: str, emit: Emit, *,
    buildargs: dict[str, str] | None = None, files: dict[str, Path] | None = None,
    wheel_requirement: str | None = None,
) -> str:
    """Build ``runtime-images/<name>`` as ``tag`` unless an image of the same recipe exists."""
    settings = get_settings()
    folder = RUNTIME_DIR / name
    args = dict(buildargs or {})
    extra = b"".join(path.read_bytes() for path in (files or {}).values())
    recipe = _recipe(folder, args, parent, extra)
    if _current(tag, recipe):
        return tag
    emit(f"building the runtime image {tag}")
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="spaces-runtime-", dir=settings.work_dir) as tmp:
        context = Path(tmp) / "context"
        shutil.copytree(folder, context)
        for target, source in (files or {}).items():
            shutil.copyfile(source, context / target)
        if not wheel_requirement:
            images.build_image(context, tag, emit, buildargs=args, labels={RECIPE_LABEL: recipe},
                               timeout=settings.build_timeout)
            return tag
        # The SDK and what it needs are resolved in a build sandbox (source distributions among
        # them build there, never on the host), then handed to the build as a bind mount.
        inputs = Path(tmp) / "inputs"
        inputs.mkdir()
        (inputs / "requirements.txt").write_text(wheel_requirement + "\n")
        emit(f"resolving {wheel_requirement} in a build sandbox")
        found = wheels.resolve(image=parent, app_dir=inputs, files=["requirements.txt"], owner=None,
                               dest=context / "wheels", settings=settings, emit=emit, timeout=settings.build_timeout)
        (context / "wheels").mkdir(exist_ok=True)
        buildkit.build(context, context / "Dockerfile", tag, emit, buildargs=args, secrets={},
                       labels={RECIPE_LABEL: recipe})
        wheels.keep(found, wheels.verify(found, parent, settings, emit), None, settings)
    return tag


def ensure_root(settings: Settings, emit: Emit = _print) -> str:
    tag = root_image(settings)
    if settings.base_image:
        if not images.image_exists(tag):
            raise BuildFailed(
                f"the configured base image {tag} is not present; pull it (docker pull {tag}) "
                "or unset SPACES_BASE_IMAGE to bootstrap one from Debian packages"
            )
        return tag
    recipe = hashlib.sha256(
        f"{settings.debian_suite}|{settings.debian_mirror}|{','.join(ROOT_PACKAGES)}".encode()
    ).hexdigest()[:24]
    if _current(tag, recipe):
        return tag
    emit(f"building the root image {tag} from Debian packages (debootstrap, about a minute)")
    with tempfile.TemporaryDirectory(prefix="spaces-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(ROOT_PACKAGES)}",
             settings.debian_suite, str(rootfs), settings.debian_mirror],
            check=True, stdout=subprocess.DEVNULL,
        )
        # Drop downloaded .debs: they only make the image bigger.
        subprocess.run(["chroot", str(rootfs), "apt-get", "clean"], check=True)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(
            ["docker", "import", "--change", 'CMD ["/bin/bash"]', "--change", f"LABEL {RECIPE_LABEL}={recipe}",
             "-", tag],
            stdin=tar.stdout, check=True, stdout=subprocess.DEVNULL,
        )
        if tar.wait() != 0:
            raise BuildFailed("packing the bootstrapped root file system failed")
    return tag


def ensure_python(settings: Settings, emit: Emit = _print) -> str:
    root = ensure_root(settings, emit)
    ensure_image("python-slim", PYTHON_SLIM_IMAGE, root, emit, buildargs={"ROOT_IMAGE": root},
                 files={"ca-certificates.crt": HOST_CA_BUNDLE})
    return ensure_image("python", PYTHON_IMAGE, PYTHON_SLIM_IMAGE, emit, buildargs={"PYTHON_SLIM_IMAGE": PYTHON_SLIM_IMAGE})


def ensure_sdk(sdk: str, version: str | None, emit: Emit = _print) -> str:
    """The runtime image of ``sdk`` (gradio or streamlit) at ``version``, built if needed."""
    settings = get_settings()
    version = version or default_version(sdk)
    ensure_python(settings, emit)
    return ensure_image(
        sdk, sdk_image(sdk, version), PYTHON_IMAGE, emit,
        buildargs={"PYTHON_IMAGE": PYTHON_IMAGE, "VERSION": version},
        wheel_requirement=f"{SDK_PACKAGES[sdk]}=={version}",
    )


def ensure_static_server(emit: Emit = _print) -> str:
    settings = get_settings()
    root = ensure_root(settings, emit)
    return ensure_image("static", STATIC_SERVER_IMAGE, root, emit, buildargs={"ROOT_IMAGE": root})


def ensure_all() -> None:
    started = time.monotonic()
    ensure_sdk("gradio", None)
    if images.image_exists(STATIC_SERVER_IMAGE):  # made once a static Space needs it; kept to its recipe
        ensure_static_server()
    _print(f"runtime images ready ({time.monotonic() - started:.1f} s)")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    try:
        ensure_all()
    except (BuildFailed, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
