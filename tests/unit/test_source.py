"""builder.source.export_commit: a commit's files come out as files and folders only; links are
replaced by copies of what they name inside the tree, or refused; nothing is written outside."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from builder import source
from core.errors import BuildFailed
from core.settings import Settings


def _git(work: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


def commit(tmp_path: Path, files: dict[str, str], links: dict[str, str]) -> tuple[Path, str]:
    """A bare-able repository with ``files`` (path: text) and ``links`` (path: target); its commit id."""
    work = tmp_path / "work"
    work.mkdir()
    _git(work, "init", "-q", "-b", "main")
    for path, text in files.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_text(text)
    for path, target in links.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, work / path)
    _git(work, "add", "-A")
    _git(work, "commit", "-q", "-m", "x")
    return work / ".git", _git(work, "rev-parse", "HEAD")


def export(tmp_path: Path, files: dict[str, str], links: dict[str, str] | None = None) -> Path:
    repo, sha = commit(tmp_path, files, links or {})
    dest = tmp_path / "out" / "src"
    source.export_commit(repo, sha, dest)
    return dest


def no_links(dest: Path) -> None:
    for root, dirs, files in os.walk(dest):
        for name in dirs + files:
            assert not os.path.islink(os.path.join(root, name)), f"{name} is still a link"


def test_files_and_folders_come_out_as_they_are(tmp_path):
    dest = export(tmp_path, {"README.md": "hi", "sub/app.py": "print(1)"})
    assert (dest / "README.md").read_text() == "hi"
    assert (dest / "sub" / "app.py").read_text() == "print(1)"


def test_links_inside_the_tree_become_copies(tmp_path):
    files = {"sub/real.html": "REAL", "assets/css/site.css": "body{}", "assets/up.txt": "UP"}
    links = {"page.html": "sub/real.html", "static": "assets", "assets/css/back": "../up.txt",
             "chain.html": "page.html", "via/x.css": "../static/css/site.css"}
    dest = export(tmp_path, files, links)
    no_links(dest)
    assert (dest / "page.html").read_text() == "REAL"
    assert (dest / "chain.html").read_text() == "REAL"
    assert (dest / "static" / "css" / "site.css").read_text() == "body{}"
    assert (dest / "static" / "css" / "back").read_text() == "UP"  # a link inside a linked folder, too
    assert (dest / "via" / "x.css").read_text() == "body{}"


def test_the_link_chain_attack_is_refused_and_writes_nothing_outside(tmp_path):
    """Each link is harmless as text; followed, the second leaves the tree three folders up."""
    outside = tmp_path / "out" / "sites" / "victim"
    outside.mkdir(parents=True)
    (outside / "marker.txt").write_text("SECRET")
    files = {"index.html": "hi", "a/b/c/keep.txt": "k"}
    links = {"a/b/c/up": "../../..", "0leak.html": "a/b/c/up/../../../sites/victim/marker.txt"}
    repo, sha = commit(tmp_path, files, links)
    before = sorted(p for p in tmp_path.rglob("*") if "work" not in p.parts)
    with pytest.raises(BuildFailed) as err:
        source.export_commit(repo, sha, tmp_path / "out" / "rel" / "src")
    assert "'0leak.html'" in err.value.message and "outside the repository" in err.value.message
    created = sorted(p for p in tmp_path.rglob("*") if "work" not in p.parts and "src" not in p.parts)
    assert [p for p in created if p not in before and p.name != "rel"] == []


@pytest.mark.parametrize(("links", "path", "why"), [
    ({"gone.html": "nothere.html"}, "gone.html", "not in the repository"),
    ({"abs.html": "/etc/hostname"}, "abs.html", "outside the repository"),
    ({"up.html": "../x"}, "up.html", "outside the repository"),
    ({"a": "b", "b": "a"}, "a", "loop"),
    ({"sub/self": ".."}, "sub/self", "contains it"),
    ({"sub/deep/top": "../.."}, "sub/deep/top", "contains it"),
    ({"x/loop": "../y", "y/loop": "../x"}, "/loop", "contains it"),
    ({"notdir": "index.html/x"}, "notdir", "not in the repository"),
])
def test_bad_links_are_refused_naming_the_link(tmp_path, links, path, why):
    files = {"index.html": "hi", "sub/deep/f": "f", "x/f": "f", "y/f": "f"}
    with pytest.raises(BuildFailed) as err:
        export(tmp_path, files, links)
    assert f"{path}'" in err.value.message and why in err.value.message


def test_links_cannot_multiply_files_past_the_limits(tmp_path, monkeypatch):
    monkeypatch.setattr(source, "get_settings", lambda: Settings(max_repo_files=200))
    files = {"d0/f": "x"}
    links = {f"d{i}/{k}": f"../d{i - 1}" for i in range(1, 12) for k in ("a", "b")}  # 2**11 copies of d0/f
    with pytest.raises(BuildFailed) as err:
        export(tmp_path, files, links)
    assert "over the limits" in err.value.message and "SPACES_MAX_REPO_FILES" in err.value.message


def _tar(*members: tuple[tarfile.TarInfo, bytes]) -> io.BytesIO:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        for info, body in members:
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body) if body else None)
    data.seek(0)
    return data


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, b""


@pytest.mark.parametrize("members", [
    [_link("d", "/tmp"), (tarfile.TarInfo("d/pwned"), b"x")],  # a file written through a link
    [(tarfile.TarInfo("../pwned"), b"x")],
    [(tarfile.TarInfo("/tmp/pwned"), b"x")],
    [_link("h", "/etc/hostname", tarfile.LNKTYPE)],
    [(tarfile.TarInfo("f"), b"x"), (tarfile.TarInfo("f"), b"y")],
])
def test_crafted_archives_are_refused(tmp_path, members):
    dest = tmp_path / "dest"
    dest.mkdir()
    budget = source._Budget(files=100, bytes=10**6)
    with pytest.raises(BuildFailed):
        source._extract(_tar(*members), dest, budget)
    assert not (tmp_path / "pwned").exists() and not Path("/tmp/pwned").exists()
    no_links(dest)


def test_folders_nested_absurdly_deep_are_refused(tmp_path):
    with pytest.raises(BuildFailed, match="nested more than 200 folders deep"):
        export(tmp_path, {"/".join(["d"] * 201) + "/f": "x"})


def test_the_commits_attributes_cannot_make_the_host_run_gpg(tmp_path, monkeypatch):
    """``export-subst`` with ``%G?`` in a signed commit made ``git archive`` run gpg on the host."""
    marker = tmp_path / "gpg-ran"
    fake_gpg = tmp_path / "gpg"
    fake_gpg.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    fake_gpg.chmod(0o755)
    config = tmp_path / "gitconfig"
    config.write_text(f"[gpg]\n\tprogram = {fake_gpg}\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    repo, _ = commit(tmp_path, {".gitattributes": "* export-subst\n", "VERSION": "$Format:%G?$\n"}, {})
    tree = _git(repo.parent, "rev-parse", "HEAD^{tree}")
    signed = (f"tree {tree}\nauthor t <t@example.invalid> 0 +0000\ncommitter t <t@example.invalid> 0 +0000\n"
              "gpgsig -----BEGIN PGP SIGNATURE-----\n \n AAAA\n -----END PGP SIGNATURE-----\n\nsigned\n")
    sha = subprocess.run(["git", "-C", str(repo.parent), "hash-object", "-t", "commit", "-w", "--stdin"],
                         input=signed, check=True, capture_output=True, text=True).stdout.strip()
    dest = tmp_path / "out" / "src"
    source.export_commit(repo, sha, dest)
    assert not marker.exists(), "git archive ran the gpg program"
    assert (dest / "VERSION").read_text() == "$Format:%G?$\n"
