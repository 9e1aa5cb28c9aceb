"""``make down`` stops the platform and its Spaces; the next ``make up`` brings every Space back.

Named ``zz`` so that it runs last: it restarts the whole platform under the other tests' feet.
"""

from __future__ import annotations

import subprocess
import sys

import httpx

from tests.helpers import ROOT, WorkTree, api, create_user, output, space_url


def lifecycle(command: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "deploy" / "lifecycle.py"), command],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)


def test_down_then_up_brings_every_space_back(tmp_path):
    owner = create_user()
    tree = WorkTree(tmp_path / "repo")
    tree.commit("first")
    assert tree.push(owner.name, "survivor", owner).returncode == 0
    survivor = space_url(api("GET", f"/api/spaces/{owner.name}/survivor").json()["subdomain"])
    demo = space_url(api("GET", "/api/spaces/demo/hello-gradio").json()["subdomain"])
    assert httpx.get(survivor, timeout=10).status_code == 200

    down = lifecycle("down")
    assert down.returncode == 0, output(down)
    assert "stopped controller" in output(down)
    for url in (survivor, demo):
        try:
            status = httpx.get(url, timeout=5).status_code
        except httpx.HTTPError:
            status = None  # nothing listens any more: that is what down means
        assert status != 200

    up = lifecycle("up")
    assert up.returncode == 0, output(up)
    assert demo in up.stdout
    for url in (survivor, demo):
        assert httpx.get(url, timeout=10).status_code == 200
    assert api("GET", f"/api/spaces/{owner.name}/survivor/runtime").json()["stage"] == "RUNNING"
    api("DELETE", f"/api/spaces/{owner.name}/survivor", owner)
