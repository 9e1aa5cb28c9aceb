"""Issue 17, finding 5, with real containers: an app's output is kept by Docker in rotated files
of bounded size, and what it writes outside /data is measured and shown on the admin page."""

from __future__ import annotations

import os
import re
from pathlib import Path

import docker
import httpx

from tests.helpers import api, create_user, eventually, output, set_password, settled_container, signed_in, space_url

PASSWORD = "a long admin password"
# Prints 25 MB (25,000 lines of 1,000 characters) and writes 60 MiB to /tmp, then serves.
APP = '''
import http.server, os, sys

line = "x" * 999 + "\\n"
for _ in range(25_000):
    sys.stdout.write(line)
sys.stdout.flush()
with open("/tmp/fill", "wb") as f:
    for _ in range(60):
        f.write(os.urandom(1 << 20))


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"filled")


http.server.ThreadingHTTPServer(("0.0.0.0", 7860), Handler).serve_forever()
'''


def log_files(container) -> list[Path]:
    path = Path(container.attrs["LogPath"])
    return [p for p in path.parent.iterdir() if p.name.startswith(path.name)]


def test_an_apps_output_and_writes_are_bounded_and_shown(worktree, user, track):
    space_id = track(f"{user.name}/filler", user)
    worktree.write("app.py", APP)
    worktree.commit("fill")
    pushed = worktree.push(user.name, "filler", user)
    assert "Your Space is running" in output(pushed), output(pushed)
    subdomain = api("GET", f"/api/spaces/{space_id}").json()["subdomain"]
    assert httpx.get(space_url(subdomain), timeout=30).text == "filled"

    container = docker.from_env().containers.get(settled_container(space_id))
    files = log_files(container)
    kept = sum(os.path.getsize(p) for p in files)
    assert len(files) <= 2 and kept <= 21 * 1024 * 1024, f"Docker kept {kept} bytes of output in {len(files)} files"

    admin = create_user(admin=True)
    set_password(admin, PASSWORD)
    with signed_in(admin, PASSWORD) as browser:
        def shown() -> int:
            page = browser.get("/admin", params={"q": space_id}).text
            row = re.search(rf'<tr data-space="{re.escape(space_id)}">(.*?)</tr>', page, re.S)
            cells = re.findall(r"<td>(.*?)</td>", row.group(1), re.S) if row else []
            found = re.match(r"(\d+) MiB", cells[-1]) if cells else None
            return int(found.group(1)) if found else 0

        assert eventually(lambda: shown() >= 60, 60, every=2), "the admin page does not show the 60 MiB written to /tmp"
        assert shown() < 200
