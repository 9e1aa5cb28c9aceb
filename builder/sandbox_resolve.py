"""Runs INSIDE a build sandbox (see :mod:`builder.sandbox`), never on the host: standard library only.

``python -I resolve.py OUT FILE [FILE ...]`` resolves the requirement files against the image's
own Python (what is installed already is kept, as ``pip install -r`` would on Hugging Face) and
writes one wheel per distribution still to install into ``OUT``, and ``spaces-layers.json``: the
names of the distributions the first file needs, when there are several (``pre-requirements.txt``
is installed in a layer of its own, first):

1. ``pip install --dry-run --report``: the resolver's answer, building source distributions'
   metadata where it must (their code runs here, in the sandbox);
2. ``pip wheel --no-deps`` of exactly that list: downloads wheels, builds the rest.

A repository with path requirements is copied to a writable folder first (they build in place).
Wheels already in the find-links folders (the shared index cache, the owner's cache) are reused.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile


def pip(*args: str) -> int:
    return subprocess.call([sys.executable, "-I", "-m", "pip", "--disable-pip-version-check", "--no-input", *args])


def pin(item: dict) -> str:
    """A requirement naming exactly what the resolver chose."""
    name = item["metadata"]["name"]
    info = item.get("download_info") or {}
    if not item.get("is_direct"):
        return f"{name}=={item['metadata']['version']}"
    vcs = info.get("vcs_info")
    if vcs:
        return f"{name} @ {vcs['vcs']}+{info['url']}@{vcs['commit_id']}"
    return f"{name} @ {info['url']}"


def main() -> int:
    out, files = sys.argv[1], sys.argv[2:]
    if os.environ.get("SPACES_COPY_APP"):
        # Path requirements build in place (egg-info, build/): work on a copy of the read-only repo.
        shutil.copytree(os.getcwd(), "/tmp/app", symlinks=True)
        os.chdir("/tmp/app")
    links = [arg for folder in os.environ.get("SPACES_FIND_LINKS", "").split(":") if folder for arg in ("--find-links", folder)]
    common = ["--progress-bar", "off", "--use-pep517", *links]
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "report.json")

        def resolve(names: list[str]) -> list[dict] | None:
            args = [arg for name in names for arg in ("-r", name)]
            if pip("install", "--dry-run", "--quiet", "--report", report, *common, *args) != 0:
                return None
            with open(report, encoding="utf-8") as fh:
                return json.load(fh).get("install", [])

        layers: dict[str, list[str]] = {}
        if len(files) > 1:
            # The first file (pre-requirements.txt) gets a layer of its own, installed first, as on
            # Hugging Face: which of the distributions below it needs is noted for the builder.
            print(f"--> resolving {files[0]} (pip install --dry-run)", flush=True)
            first = resolve(files[:1])
            if first is None:
                return 1
            layers[files[0]] = [item["metadata"]["name"] for item in first]
        print(f"--> resolving {' and '.join(files)} (pip install --dry-run)", flush=True)
        items = resolve(files)
        if items is None:
            return 1
        with open(os.path.join(out, "spaces-layers.json"), "w", encoding="utf-8") as fh:
            json.dump(layers, fh)
        chosen = [pin(item) for item in items]
        if not chosen:
            print("--> every requirement is installed in the runtime image already", flush=True)
            return 0
        pins = os.path.join(tmp, "pins.txt")
        with open(pins, "w", encoding="utf-8") as fh:
            fh.write("\n".join(chosen) + "\n")
        print(f"--> fetching or building {len(chosen)} wheel(s): {' '.join(chosen)}", flush=True)
        return pip("wheel", "--no-deps", "--wheel-dir", out, *common, "-r", pins)


if __name__ == "__main__":
    sys.exit(main())
