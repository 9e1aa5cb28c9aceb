"""Getting a commit's files out of the Space's bare repository, safely.

The export writes regular files and folders only — never a symbolic link, so nothing the builder
later reads on the host (README, requirement files, a static Space's release) can lead out of it.
``git archive``'s tar is read member by member and written with ``O_EXCL | O_NOFOLLOW``; tarfile's
own extraction is not used (Python 3.11's ``data`` filter misses a link chain through a link to a
folder that is not extracted yet).

The commit's links are then resolved against the commit's own tree, not the disk: each link is
followed and a ``..`` after it is taken from where it led, as the kernel would. A link that ends at
a file or folder of the tree is replaced by a copy of it; a link that leads out of the tree, to
nothing, round in a loop, or to a folder that contains it, is refused with :class:`BuildFailed`
naming it. Copies count against the repository limits, so links cannot multiply the files.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from core.errors import BuildFailed
from core.settings import get_settings

log = logging.getLogger(__name__)

MAX_LINK_HOPS = 40  # as Linux's ELOOP limit
MAX_DEPTH = 200  # folders inside folders, links' copies included
ROOT = ""  # the tree's top folder, as a path


def _show(text: str) -> str:
    """A user's path or link text, safe to put in one line of a message."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _parent(path: str) -> str:
    return path.rpartition("/")[0]


def _join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


def _ancestors(path: str) -> tuple[str, ...]:
    """The folders that contain ``path``, the top folder first."""
    parts = path.split("/")[:-1]
    return (ROOT, *("/".join(parts[: i + 1]) for i in range(len(parts))))


class _LinkRefused(Exception):
    """A link that cannot be replaced by what it names; ``why`` completes 'symbolic link X ...'."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


@dataclass
class _Budget:
    """What the export may write in all, copies of linked files and folders included."""

    files: int
    bytes: int

    def spend(self, size: int, what: str) -> None:
        self.files -= 1
        self.bytes -= size
        if self.files < 0 or self.bytes < 0:
            settings = get_settings()
            raise BuildFailed(
                f"{what}: the repository with its symbolic links followed is over the limits "
                f"({settings.max_repo_files} files, {settings.max_repo_mb} MiB: SPACES_MAX_REPO_FILES, SPACES_MAX_REPO_MB)"
            )


@dataclass
class _Tree:
    """The commit's tree as read from the archive: kinds of paths, link texts, folder contents."""

    kinds: dict[str, str] = field(default_factory=lambda: {ROOT: "dir"})
    links: dict[str, str] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=lambda: {ROOT: []})

    def add(self, path: str, kind: str) -> None:
        if path in self.kinds:
            if kind == "dir" and self.kinds[path] == "dir":
                return
            raise BuildFailed(f"the repository names '{_show(path)}' twice")
        folder = _parent(path)
        if self.kinds.get(folder, "dir") != "dir":
            raise BuildFailed(f"'{_show(path)}' is inside '{_show(folder)}', which is not a folder")
        if folder not in self.kinds:
            self.add(folder, "dir")
        self.kinds[path] = kind
        self.children[folder].append(path.rpartition("/")[2])
        if kind == "dir":
            self.children[path] = []

    # ------------------------------------------------------------------ following links

    def resolve(self, link: str) -> str:
        """The path of the file or folder ``link`` ends at, following every link on the way."""
        current = [p for p in _parent(link).split("/") if p]
        pending = self._target_parts(link)
        hops = 1
        while pending:
            part = pending.pop(0)
            if part in ("", "."):
                continue
            if part == "..":
                if not current:
                    raise _LinkRefused(f"points outside the repository (to '{_show(self.links[link])}')")
                current.pop()
                continue
            here = "/".join([*current, part])
            kind = self.kinds.get(here)
            if kind is None:
                raise _LinkRefused(f"points to '{_show(self.links[link])}', which is not in the repository")
            if kind == "link":
                hops += 1
                if hops > MAX_LINK_HOPS:
                    raise _LinkRefused("is part of a loop of links (following it never ends at a file or folder)")
                pending = self._target_parts(here) + pending
                continue
            if kind == "file" and any(p for p in pending):
                raise _LinkRefused(f"points to '{_show(self.links[link])}', which is not in the repository")
            current.append(part)
        return "/".join(current)

    def _target_parts(self, link: str) -> list[str]:
        target = self.links[link]
        if target.startswith("/"):
            raise _LinkRefused(f"points outside the repository (to '{_show(target)}'): only relative links are allowed")
        if not target:
            raise _LinkRefused("is empty")
        return target.split("/")

    # ------------------------------------------------------------------ writing copies

    def materialize(self, dest: Path, budget: _Budget) -> None:
        """Write a copy of what each link names in place of the link."""
        for link in sorted(self.links):
            self.place(dest, link, link, _ancestors(link), budget)

    def place(self, dest: Path, path: str, out: str, within: tuple[str, ...], budget: _Budget) -> None:
        """Write at ``out`` what ``path`` is (a link followed); ``within``: the folders being written into."""
        real = path
        if self.kinds[path] == "link":
            try:
                real = self.resolve(path)
            except _LinkRefused as exc:
                raise BuildFailed(f"symbolic link '{_show(path)}' {exc.why}; links must lead to a file or folder "
                                  "inside the repository") from None
        if self.kinds[real] == "file":
            _copy_file(dest / real, dest / out, budget, out)
            return
        if len(within) > MAX_DEPTH:
            raise BuildFailed(f"symbolic link '{_show(path)}': its copy would be nested more than {MAX_DEPTH} folders deep")
        if real in within:
            shown = _show(real) or "the top folder"
            raise BuildFailed(f"symbolic link '{_show(path)}' leads to '{shown}', a folder that contains it: "
                              "copying it would never end (a loop)")
        _make_dir(dest / out)
        for name in self.children[real]:
            self.place(dest, _join(real, name), _join(out, name), (*within, real), budget)


def _member_path(name: str) -> str:
    """The archive member's path, checked: relative, no ``..``."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts or "\0" in name:
        raise BuildFailed(f"the repository contains a path the build refuses: '{_show(name)}'")
    if len(path.parts) > MAX_DEPTH:
        raise BuildFailed(f"'{_show(name)[:200]}…' is nested more than {MAX_DEPTH} folders deep")
    return "/".join(path.parts)


def _make_dir(path: Path) -> None:
    path.mkdir(mode=0o755)


def _write_file(source: IO[bytes], path: Path, executable: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    with os.fdopen(os.open(path, flags, 0o755 if executable else 0o644), "wb") as out:
        shutil.copyfileobj(source, out)


def _copy_file(source: Path, target: Path, budget: _Budget, shown: str) -> None:
    budget.spend(source.stat(follow_symlinks=False).st_size, f"'{_show(shown)}'")
    with os.fdopen(os.open(source, os.O_RDONLY | os.O_NOFOLLOW), "rb") as data:
        _write_file(data, target, bool(source.stat(follow_symlinks=False).st_mode & 0o111))


def _extract(stream: IO[bytes], dest: Path, budget: _Budget) -> _Tree:
    """Write the archive's folders and files; record its links (none is written)."""
    tree = _Tree()
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            path = _member_path(member.name)
            if member.isdir():
                tree.add(path, "dir")
                (dest / path).mkdir(mode=0o755, parents=True, exist_ok=True)
            elif member.isreg():
                tree.add(path, "file")
                budget.spend(member.size, f"'{_show(path)}'")
                (dest / path).parent.mkdir(mode=0o755, parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None
                _write_file(source, dest / path, bool(member.mode & 0o111))
            elif member.issym():
                tree.add(path, "link")
                tree.links[path] = member.linkname
            else:
                raise BuildFailed(f"'{_show(path)}' is neither a file, a folder nor a symbolic link; the build refuses it")
    return tree


NEUTRAL_ATTRIBUTES = "* -export-subst -export-ignore\n"


def _neutral_attributes(repo: Path) -> None:
    """``git archive`` obeys the commit's own ``.gitattributes``: ``export-subst`` with ``%G?`` would
    make the host run gpg on a signature the pusher wrote. The repository's ``info/attributes``
    outranks the tree's, so the export is always the files as committed."""
    path = repo / "info" / "attributes"
    if not path.is_file() or path.read_text() != NEUTRAL_ATTRIBUTES:
        path.parent.mkdir(exist_ok=True)
        path.write_text(NEUTRAL_ATTRIBUTES)


def export_commit(repo: Path, commit: str, dest: Path) -> None:
    """Write the tree of ``commit`` into ``dest`` (new or empty; no .git): files and folders only,
    links replaced by copies of what they name inside the tree, or refused."""
    settings = get_settings()
    budget = _Budget(files=settings.max_repo_files, bytes=settings.max_repo_mb * 1024 * 1024)
    dest.mkdir(parents=True, exist_ok=True)
    if dest.is_symlink() or any(dest.iterdir()):
        raise BuildFailed(f"internal error: the export folder {dest} is not a new folder")
    _neutral_attributes(repo)
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(["git", "-c", "gpg.program=false", "-c", "gpg.ssh.program=false",
                                 f"--git-dir={repo}", "archive", "--format=tar", commit],
                                stdout=subprocess.PIPE, stderr=errors)
        assert proc.stdout is not None
        try:
            tree = _extract(proc.stdout, dest, budget)
            while proc.stdout.read(65536):  # the archive's end padding: git must not die of a closed pipe
                pass
        except tarfile.TarError as exc:
            proc.kill()
            raise BuildFailed(f"could not read commit {commit[:12]}: {exc}") from exc
        except BaseException:
            proc.kill()
            raise
        finally:
            proc.stdout.close()
            rc = proc.wait()
        if rc != 0:
            errors.seek(0)
            raise BuildFailed(f"could not read commit {commit[:12]}: {errors.read().decode(errors='replace').strip()}")
    try:
        tree.materialize(dest, budget)
    except OSError as exc:  # e.g. a copy's path longer than the system allows
        raise BuildFailed(f"could not replace the repository's symbolic links by copies: {exc.strerror}") from exc
    if tree.links:
        log.info("export of %s: %d symbolic link(s) replaced by copies", commit[:12], len(tree.links))
