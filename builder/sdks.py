"""One builder per SDK, chosen by the ``sdk`` key of the front matter.

Each turns an exported commit into something the worker can serve and returns the fields the
build record keeps for the deploy (``kind`` ``container`` with an ``image``, or ``static`` with a
``release`` folder). To add an SDK, subclass :class:`SdkBuilder` and register it in :data:`SDK_BUILDERS`.
"""

from __future__ import annotations

import abc
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import redis

from builder import base_images, buildkit, images
from builder.config import SpaceConfig
from builder.deps import deps_image, read_dependencies
from builder.docker_bases import build_args, map_bases
from builder.dockerfile import app_dockerfile, label_line
from builder.repofiles import read_top_level
from core.errors import BuildFailed, NoAppFile
from core.names import app_image_repo
from core.settings import Settings


@dataclass
class BuildContext:
    space_id: str
    build_id: str
    commit: str
    subdomain: str
    src: Path
    workdir: Path
    config: SpaceConfig
    settings: Settings
    emit: Callable[[str], None]
    r: redis.Redis
    fresh: bool = False  # factory rebuild: no caches
    variables: dict[str, str] = field(default_factory=dict)  # the Space's variables: build arguments
    secrets: dict[str, str] = field(default_factory=dict)  # build secrets for Docker Spaces, never build args

    @property
    def labels(self) -> dict[str, str]:
        return {"org.spaces.space": self.space_id, "org.spaces.build": self.build_id, "org.spaces.commit": self.commit}

    @property
    def tag(self) -> str:
        return f"{app_image_repo(self.space_id)}:{self.commit[:12]}"


class SdkBuilder(abc.ABC):
    # True if its images take the Space's variables and secrets at build time (build arguments and
    # build secrets): a change to them then takes a new build, not only a restart.
    bakes_env: bool = False

    @abc.abstractmethod
    def build(self, ctx: BuildContext) -> dict[str, str]:
        """Build ``ctx.src``; return the build record's fields for the deploy."""

    @staticmethod
    def container_result(ctx: BuildContext) -> dict[str, str]:
        return {"kind": "container", "image": ctx.tag, "app_port": str(ctx.config.app_port)}

    @staticmethod
    def build_app_image(ctx: BuildContext, dockerfile_text: str) -> None:
        dockerfile = ctx.workdir / "Dockerfile"
        dockerfile.write_text(dockerfile_text)
        ctx.emit(f"--> building {ctx.tag}")
        step = time.monotonic()
        images.build_image(ctx.src, ctx.tag, ctx.emit, dockerfile=str(dockerfile), nocache=ctx.fresh,
                           timeout=ctx.settings.build_timeout)
        ctx.emit(f"--> app layer built in {time.monotonic() - step:.1f} s")


class PythonSdkBuilder(SdkBuilder):
    """gradio and streamlit: runtime image → shared dependencies image → the code."""

    def __init__(self, sdk: str) -> None:
        self.sdk = sdk

    def build(self, ctx: BuildContext) -> dict[str, str]:
        app_file = ctx.config.effective_app_file
        if not (ctx.src / app_file).is_file():
            raise NoAppFile(f"app file '{app_file}' not found in the repository (set 'app_file' in README.md)")
        version = ctx.config.sdk_version or base_images.default_version(self.sdk)
        base = base_images.sdk_image(self.sdk, version)
        if not images.image_exists(base):
            ctx.emit(f"--> {self.sdk} {version} is not in a runtime image yet; building {base} once for every Space")
        base = base_images.ensure_sdk(self.sdk, version, ctx.emit)
        deps = read_dependencies(ctx.src)
        if not deps.empty:
            base = deps_image(base, deps, ctx.settings, ctx.emit, ctx.r, owner=ctx.space_id.split("/", 1)[0],
                              src=ctx.src, fresh=ctx.fresh)
        self.build_app_image(ctx, app_dockerfile(ctx.config, base, ctx.labels))
        return self.container_result(ctx)


class DockerSdkBuilder(SdkBuilder):
    """The repo's own Dockerfile, with public base images mapped onto local ones."""

    bakes_env = True

    def build(self, ctx: BuildContext) -> dict[str, str]:
        raw = read_top_level(ctx.src, "Dockerfile")
        if raw is None:
            raise NoAppFile("a Docker Space needs a file named 'Dockerfile' at the top of the repository")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BuildFailed("the Dockerfile is not UTF-8 text") from exc
        mapped = map_bases(text, ctx.emit) + label_line(ctx.labels) + "\n"
        if ctx.variables:
            ctx.emit(f"--> variables passed as build arguments: {', '.join(sorted(ctx.variables))}")
        if ctx.secrets:
            ctx.emit(f"--> secrets offered as build secrets (RUN --mount=type=secret,id=NAME): {', '.join(sorted(ctx.secrets))}")
        dockerfile = ctx.workdir / "Dockerfile"
        dockerfile.write_text(mapped)
        ctx.emit(f"--> building {ctx.tag} with BuildKit")
        step = time.monotonic()
        buildargs = build_args(ctx.variables, ctx.space_id, ctx.emit)
        buildkit.build(ctx.src, dockerfile, ctx.tag, ctx.emit, buildargs=buildargs, secrets=ctx.secrets, nocache=ctx.fresh)
        ctx.emit(f"--> image built in {time.monotonic() - step:.1f} s")
        return self.container_result(ctx)


class StaticSdkBuilder(SdkBuilder):
    """Files only: copied into a release folder served by the shared static web server.

    A release holds regular files and folders only, never a link: the export already replaced the
    commit's links by copies (or refused them), and the copy here refuses anything else by name.
    It is written under a hidden name and renamed when complete, one folder per build, so a
    rebuild of the serving commit never touches the files being served."""

    def build(self, ctx: BuildContext) -> dict[str, str]:
        app_file = PurePosixPath(ctx.config.effective_app_file)
        if not (ctx.src / app_file).is_file():
            raise NoAppFile(f"app file '{app_file}' not found in the repository (set 'app_file' in README.md)")
        base_images.ensure_static_server(ctx.emit)
        releases = ctx.settings.static_dir / "releases" / ctx.subdomain
        release = releases / f"{ctx.commit[:12]}-{ctx.build_id}"
        partial = releases / f".{release.name}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        releases.mkdir(parents=True, exist_ok=True)
        try:
            files = self.copy_release(ctx.src, partial, PurePosixPath())
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        shutil.rmtree(release, ignore_errors=True)
        partial.rename(release)
        ctx.emit(f"--> {files} file(s) ready to serve from '{app_file.parent}/' (index: {app_file.name})")
        return {
            "kind": "static",
            "release": str(release),
            "app_dir": str(app_file.parent),
            "index": app_file.name,
        }

    @classmethod
    def copy_release(cls, src: Path, dest: Path, rel: PurePosixPath) -> int:
        """Copy the folder ``src`` to ``dest`` (files 0644, folders 0755); returns the files copied.
        Anything but a regular file or folder (a link, above all) is a BuildFailed naming it."""
        dest.mkdir(mode=0o755)
        copied = 0
        with os.scandir(src) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                path = rel / entry.name
                if entry.is_dir(follow_symlinks=False):
                    copied += cls.copy_release(Path(entry.path), dest / entry.name, path)
                elif entry.is_file(follow_symlinks=False):
                    shutil.copyfile(entry.path, dest / entry.name, follow_symlinks=False)
                    os.chmod(dest / entry.name, 0o644)
                    copied += 1
                else:
                    kind = "a symbolic link" if entry.is_symlink() else "neither a file nor a folder"
                    raise BuildFailed(f"'{path}' is {kind}: a static Space is served from files and folders only")
        return copied


SDK_BUILDERS: dict[str, SdkBuilder] = {
    "gradio": PythonSdkBuilder("gradio"),
    "streamlit": PythonSdkBuilder("streamlit"),
    "docker": DockerSdkBuilder(),
    "static": StaticSdkBuilder(),
}
