"""Headers a Space's app can trust: Traefik sets ``X-Forwarded-*`` itself, and a client cannot
smuggle an alias of one (``X_Forwarded_Host``, ``X.Forwarded.Host``), which WSGI/CGI-style apps
would read as the same header — Traefik's entry points drop such headers (``aliasHeadersStrategy``)."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.helpers import WorkTree, api, output, space_url

ECHO_APP = '''
import http.server, json

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps([[k, v] for k, v in self.headers.items()]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

http.server.ThreadingHTTPServer(("0.0.0.0", 7860), Handler).serve_forever()
'''


@pytest.fixture(scope="module")
def echo(platform, tmp_path_factory):
    from tests.helpers import create_user

    owner = create_user()
    tree = WorkTree(tmp_path_factory.mktemp("echo") / "repo")
    tree.write("app.py", ECHO_APP)
    tree.commit("echo headers")
    run = tree.push(owner.name, "echo", owner)
    assert run.returncode == 0, output(run)
    yield space_url(api("GET", f"/api/spaces/{owner.name}/echo").json()["subdomain"])
    api("DELETE", f"/api/spaces/{owner.name}/echo", owner)


def test_aliases_of_forwarded_headers_never_reach_the_app(echo):
    sent = {"X_Forwarded_Host": "evil.example", "X.Forwarded.For": "10.6.6.6", "X~Real~Ip": "10.6.6.6",
            "X-Forwarded-Host": "evil.example"}
    seen = json.loads(httpx.get(echo, headers=sent, timeout=30).text)
    names = [name.lower() for name, _ in seen]
    for alias in ("x_forwarded_host", "x.forwarded.for", "x~real~ip"):
        assert alias not in names, seen
    values = {name.lower(): value for name, value in seen}
    assert values["x-forwarded-host"] != "evil.example"  # Traefik's own value, from the real Host
    assert "10.6.6.6" not in values.get("x-forwarded-for", "")
