"""Static Spaces cannot read each other's files through symbolic links (issue 11).

The attack that worked: a public static Space held a chain of relative links, each harmless as
text (the push check normalises text only), which the export and the release copy kept, and the
one shared nginx followed them into another user's private static Space. Now a release holds no
link (links inside the tree become copies, others fail the build by name) and nginx follows no
link below a site's root. The marker of the private Space must never reach anyone else.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import httpx
import pytest

from core.settings import get_settings
from tests.helpers import WorkTree, api, create_user, output, runtime, space_url, unique

STATIC_README = "---\ntitle: t\nsdk: static\n---\n"


def static_tree(path: Path, files: dict[str, str], links: dict[str, str] | None = None) -> WorkTree:
    tree = WorkTree(path, example=None)
    tree.write("README.md", STATIC_README)
    for name, text in files.items():
        tree.write(name, text)
    for name, target in (links or {}).items():
        (tree.path / name).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, tree.path / name)
    tree.commit("static")
    return tree


def live_release(label: str) -> Path:
    """The folder the static server serves for ``label`` (the platform's sites/<label> link resolved)."""
    return (get_settings().static_dir / "sites" / label).resolve(strict=True)


def raw_get(request_target: str, host: str) -> str:
    """One HTTP/1.1 request through Traefik with a request line and Host of our choosing."""
    s = get_settings()
    with socket.create_connection(("127.0.0.1", s.http_port), timeout=10) as conn:
        conn.sendall(f"GET {request_target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


@pytest.fixture(scope="module")
def victim(platform, tmp_path_factory):
    """A private static Space with a marker file: (space_id, label, marker, owner)."""
    owner = create_user()
    name, marker = "vault", f"spaces-marker-{uuid.uuid4().hex}"
    space_id = f"{owner.name}/{name}"
    tree = static_tree(tmp_path_factory.mktemp("victim") / "repo", {"index.html": "vault", "marker.txt": marker})
    run = tree.push(owner.name, name, owner)
    assert run.returncode == 0, output(run)
    assert api("PUT", f"/api/spaces/{space_id}/settings", owner, json={"private": True}).status_code == 200
    label = api("GET", f"/api/spaces/{space_id}", owner).json()["subdomain"]
    # The marker is there to be stolen: its owner gets it, anonymous visitors do not.
    assert httpx.get(space_url(label) + "marker.txt", headers=owner.headers, timeout=30).text == marker
    assert marker not in httpx.get(space_url(label) + "marker.txt", timeout=30).text
    yield space_id, label, marker, owner
    api("DELETE", f"/api/spaces/{space_id}", owner)


@pytest.fixture(scope="module")
def linked(platform, tmp_path_factory):
    """A public static Space whose links stay inside its tree: (space_id, label, url, owner)."""
    owner = create_user()
    name = "linked"
    space_id = f"{owner.name}/{name}"
    files = {"index.html": "home", "sub/real.html": "REAL-PAGE", "sub/deeper/note.txt": "NOTE"}
    links = {"page.html": "sub/real.html", "assets": "sub", "twice.html": "page.html", "sub/deeper/up.html": "../real.html"}
    tree = static_tree(tmp_path_factory.mktemp("linked") / "repo", files, links)
    run = tree.push(owner.name, name, owner)
    assert run.returncode == 0 and "Your Space is running" in output(run), output(run)
    label = api("GET", f"/api/spaces/{space_id}").json()["subdomain"]
    yield space_id, label, space_url(label), owner
    api("DELETE", f"/api/spaces/{space_id}", owner)


def test_a_link_chain_into_another_space_fails_the_build_by_name(victim, tmp_path):
    _, victim_label, marker, _ = victim
    attacker = create_user()
    name = unique("chain")
    space_id = f"{attacker.name}/{name}"
    # Each link is harmless as text; followed, a/b/c/up is the release's top and three '..' more
    # reach <data dir>/static, where sites/<victim> is the private Space's live files.
    files = {"index.html": "hi", "a/b/c/keep.txt": "k"}
    links = {
        "a/b/c/up": "../../..",
        "0leak.html": f"a/b/c/up/../../../sites/{victim_label}/marker.txt",
        "0dir": f"a/b/c/up/../../../sites/{victim_label}",
    }
    tree = static_tree(tmp_path / "repo", files, links)
    try:
        run = tree.push(attacker.name, name, attacker)
        assert "error: BUILD_ERROR" in output(run), output(run)
        rt = runtime(space_id)
        assert rt["stage"] == "BUILD_ERROR", rt
        assert "symbolic link '0dir'" in rt["errorMessage"] or "symbolic link '0leak.html'" in rt["errorMessage"], rt
        assert "outside the repository" in rt["errorMessage"], rt
        log = api("GET", f"/api/spaces/{space_id}/logs/build").text
        url = space_url(api("GET", f"/api/spaces/{space_id}").json()["subdomain"])
        for path in ("0leak.html", "0dir/marker.txt", "a/b/c/up/index.html"):
            assert marker not in httpx.get(url + path, timeout=30).text, path
        assert marker not in output(run) and marker not in log
    finally:
        api("DELETE", f"/api/spaces/{space_id}", attacker)


def test_links_inside_the_tree_are_served_as_copies(linked):
    _, label, url, _ = linked
    for path, body in (("page.html", "REAL-PAGE"), ("twice.html", "REAL-PAGE"), ("assets/real.html", "REAL-PAGE"),
                       ("assets/deeper/note.txt", "NOTE"), ("sub/deeper/up.html", "REAL-PAGE"), ("", "home")):
        response = httpx.get(url + path, timeout=30)
        assert response.status_code == 200 and response.text == body, (path, response.status_code, response.text)
    release = live_release(label)
    links = [os.path.join(root, n) for root, dirs, files in os.walk(release) for n in dirs + files
             if os.path.islink(os.path.join(root, n))]
    assert links == [], links


def test_the_static_server_follows_no_link_even_if_one_got_into_a_release(victim, linked):
    """Defence in depth: links planted straight into a live release (as a builder bug might)."""
    _, victim_label, marker, _ = victim
    _, label, url, _ = linked
    release = live_release(label)
    victim_files = live_release(victim_label)
    planted = {
        "planted-abs.txt": str(Path("/srv/static/sites") / victim_label / "marker.txt"),  # as the server sees it
        "planted-rel.txt": os.path.relpath(victim_files / "marker.txt", release),
        "planted-dir": os.path.relpath(victim_files, release),
        "sub/planted-up": "../../..",
    }
    try:
        for name, target in planted.items():
            os.symlink(target, release / name)
        for path in ("planted-abs.txt", "planted-rel.txt", "planted-dir/marker.txt",
                     f"sub/planted-up/sites/{victim_label}/marker.txt"):
            response = httpx.get(url + path, timeout=30)
            assert response.status_code in (403, 404) and marker not in response.text, (path, response.status_code)
        assert httpx.get(url + "page.html", timeout=30).text == "REAL-PAGE"  # the Space itself still serves
    finally:
        for name in planted:
            (release / name).unlink(missing_ok=True)


def test_paths_and_hosts_cannot_reach_another_space(victim, linked):
    _, victim_label, marker, owner = victim
    _, label, _url, _ = linked
    s = get_settings()
    host, victim_host = s.space_host(label), s.space_host(victim_label)
    targets = [f"/../{victim_label}/marker.txt", f"/../../sites/{victim_label}/marker.txt",
               f"/%2e%2e/%2e%2e/sites/{victim_label}/marker.txt", f"http://{victim_host}/marker.txt",
               f"http://{victim_host}:{s.http_port}/marker.txt"]
    for target in targets:
        answer = raw_get(target, f"{host}:{s.http_port}")
        assert marker not in answer, target
    # The victim's own host still gives the marker to its owner only.
    assert httpx.get(space_url(victim_label) + "marker.txt", headers=owner.headers, timeout=30).text == marker
    assert marker not in httpx.get(space_url(victim_label) + "marker.txt", timeout=30).text
