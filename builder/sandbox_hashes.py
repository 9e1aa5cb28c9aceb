"""Runs INSIDE a clean sandbox (no user file mounted, no user code run), never on the host.

``python -I hashes.py INDEX_URL FILENAME [FILENAME ...]`` prints, as one JSON object, the SHA-256
the package index publishes for each wheel file name (PEP 691 JSON simple API, PEP 503 HTML as a
fallback). The builder promotes a wheel into the shared cache only when its bytes have that hash:
proof that pip downloaded it from the index rather than a build step making it up.
"""

from __future__ import annotations

import json
import re
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser

JSON_TYPE = "application/vnd.pypi.simple.v1+json"


def project_of(filename: str) -> str:
    return re.sub(r"[-_.]+", "-", filename.split("-", 1)[0]).lower()


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href") or ""
        if tag == "a" and "#sha256=" in href:
            url, digest = href.split("#sha256=", 1)
            self.files[url.rsplit("/", 1)[-1]] = digest


def published(index: str, project: str) -> dict[str, str]:
    request = urllib.request.Request(f"{index.rstrip('/')}/{project}/", headers={"Accept": f"{JSON_TYPE}, text/html;q=0.1"})
    with urllib.request.urlopen(request, timeout=60) as response:  # the operator's index
        body = response.read()
        kind = response.headers.get("Content-Type", "")
    if JSON_TYPE in kind:
        return {f["filename"]: f.get("hashes", {}).get("sha256", "") for f in json.loads(body).get("files", [])}
    parser = _Links()
    parser.feed(body.decode("utf-8", "replace"))
    return parser.files


def main() -> int:
    index, names = sys.argv[1], sys.argv[2:]
    projects = sorted({project_of(name) for name in names})

    def fetch(project: str) -> dict[str, str]:
        try:
            return published(index, project)
        except Exception as exc:  # noqa: BLE001 - an unknown project proves nothing: report, go on
            print(f"{project}: {exc}", file=sys.stderr)
            return {}

    with ThreadPoolExecutor(max_workers=8) as pool:
        pages = dict(zip(projects, pool.map(fetch, projects), strict=True))
    # A file's hash counts only from its own project's page.
    print(json.dumps({name: pages[project_of(name)].get(name, "") for name in names}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
