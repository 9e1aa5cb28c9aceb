"""Requirement and package files are data: what the builder accepts, refuses and shares (issue 11)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from builder.deps import Dependencies, check_requirements, read_dependencies
from builder.repofiles import read_top_level
from builder.sandbox import open_untrusted, regular_files
from core.errors import BuildFailed, ConfigError


@pytest.mark.parametrize("line", [
    "-r /etc/shadow", "-r../secrets.txt", "--requirement=/var/lib/spaces/secrets.key", "-c ../../x.txt",
    "--constraint /etc/passwd", "-r ~/x.txt", "-r file:///etc/shadow", "-r sub/../../x.txt", "-rhttp://127.0.0.1:6390/",
])
def test_includes_outside_the_repository_are_config_errors(line):
    with pytest.raises(ConfigError) as caught:
        check_requirements("requirements.txt", f"gradio\n{line}\n")
    assert "requirements.txt line 2" in caught.value.message
    assert "names a file outside the repository" in caught.value.message


@pytest.mark.parametrize("line", ["-r other.txt", "-r sub/dir/more.txt", "-c constraints.txt", "numpy==1.26", "./pkg"])
def test_includes_inside_the_repository_are_accepted(line):
    check_requirements("requirements.txt", line)


def test_a_continued_line_is_checked_as_pip_joins_it(tmp_path):
    (tmp_path / "requirements.txt").write_text("-r \\\n/etc/shadow\n")
    with pytest.raises(ConfigError, match="outside the repository"):
        read_dependencies(tmp_path)


@pytest.mark.parametrize(("text", "plain"), [
    ("numpy==1.26.4\nhumanize>=4 ; python_version >= '3.8'\nrequests[socks]", True),
    ("evil @ git+https://example.invalid/evil.git", False),
    ("./pkg", False),
    ("-e .", False),
    ("-r other.txt\nnumpy", False),
    ("--extra-index-url https://example.invalid/simple\nnumpy", False),
    ("https://example.invalid/x-1.0-py3-none-any.whl", False),
])
def test_only_index_packages_by_name_are_plain(text, plain):
    assert Dependencies((), "", text).plain is plain


def test_packages_txt_lines_must_be_debian_names(tmp_path):
    (tmp_path / "packages.txt").write_text("ffmpeg\nlibgl1=1.6.0-1\n")
    assert read_dependencies(tmp_path).packages == ("ffmpeg", "libgl1=1.6.0-1")
    (tmp_path / "packages.txt").write_text("jq; curl http://127.0.0.1:6390\n")
    with pytest.raises(BuildFailed, match="is not a Debian package name"):
        read_dependencies(tmp_path)


def test_dependency_files_are_never_read_through_links(tmp_path):
    secret = tmp_path / "host-secret"
    secret.write_text("HOST-SECRET-MARKER\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    os.symlink(secret, repo / "packages.txt")
    os.symlink("packages.txt", repo / "requirements.txt")  # a chain
    with pytest.raises(BuildFailed, match=r"packages\.txt is a symbolic link") as caught:
        read_dependencies(repo)
    assert "HOST-SECRET-MARKER" not in caught.value.message
    with pytest.raises(BuildFailed, match=r"requirements\.txt is a symbolic link"):
        read_top_level(repo, "requirements.txt")
    (repo / "README.md").mkdir()
    with pytest.raises(BuildFailed, match=r"README\.md is not a regular file"):
        read_top_level(repo, "README.md")
    assert read_top_level(repo, "absent.txt") is None


def test_sandbox_output_is_read_without_following_links(tmp_path: Path):
    secret = tmp_path / "host-secret"
    secret.write_text("HOST-SECRET-MARKER")
    out = tmp_path / "out"
    out.mkdir()
    (out / "ok-1.0-py3-none-any.whl").write_bytes(b"wheel")
    os.symlink(secret, out / "evil-1.0-py3-none-any.whl")
    os.mkfifo(out / "fifo-1.0-py3-none-any.whl")
    (out / "dir-1.0-py3-none-any.whl").mkdir()
    assert [name for name, _ in regular_files(out, max_bytes=100)] == ["ok-1.0-py3-none-any.whl"]
    with pytest.raises(OSError):
        open_untrusted(out / "evil-1.0-py3-none-any.whl")


def test_lines_are_read_as_pip_reads_them(tmp_path):
    """A comment line ending in a backslash does not continue (pip's join_lines): the line after it
    is a requirement of its own, so it is checked and counted (it used to vanish into the comment)."""
    (tmp_path / "requirements.txt").write_text("numpy\n# \\\nevilpkg\n-r \\\nother.txt  # trailing\n")
    deps = read_dependencies(tmp_path)
    assert deps.requirements.splitlines() == ["numpy", "evilpkg", "-r other.txt"]
    (tmp_path / "requirements.txt").write_text("numpy\n# \\\n-r /etc/shadow\n")
    with pytest.raises(ConfigError, match="outside the repository"):
        read_dependencies(tmp_path)
