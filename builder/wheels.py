"""The host-side wheel cache: resolve requirements with pip on the host, serve them to image builds.

Containers here cannot reach PyPI over HTTPS, so Python packages are resolved on the host
(``pip wheel``) into ``<data dir>/cache/wheels``. While an image builds, :func:`serve` shares that
folder on an ephemeral port of the host's loopback; builds that install from it run with the
host's network and ``pip install --no-index --find-links <url>``, so no wheel ends up in a layer.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import logging
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from core.errors import BuildFailed

log = logging.getLogger(__name__)

# Python of the runtime images (Debian bookworm); host wheels must match it.
IMAGE_PYTHON = (3, 11)


def check_host_python() -> None:
    if sys.version_info[:2] != IMAGE_PYTHON:
        raise BuildFailed(
            f"the wheel cache is filled by the host's Python {sys.version_info[0]}.{sys.version_info[1]}, "
            f"but the runtime images run Python {IMAGE_PYTHON[0]}.{IMAGE_PYTHON[1]}; "
            "create the platform venv with a matching python3"
        )


def resolve(requirements: Path, cache: Path, emit: Callable[[str], None], *, timeout: float) -> None:
    """Fill ``cache`` with wheels for everything ``requirements`` needs, streaming pip's output to ``emit``."""
    check_host_python()
    cache.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, "-m", "pip", "wheel", "--progress-bar", "off", "--disable-pip-version-check",
        "--wheel-dir", str(cache), "--find-links", str(cache), "-r", str(requirements),
    ]
    tail: list[str] = []
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    except OSError as exc:
        raise BuildFailed(f"could not run pip: {exc}") from exc
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            if not line or "is ignored: it is neither a file nor a directory" in line:
                continue  # noise from machine-wide pip configuration
            emit(line)
            tail = (tail + [line])[-15:]
        rc = proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:  # interrupted (timeout, superseded): do not leave pip running
            proc.kill()
            proc.wait()
    if rc != 0:
        errors = [t for t in tail if "ERROR" in t] or tail[-5:]
        raise BuildFailed("could not resolve the Python requirements: " + " | ".join(errors))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        log.debug("wheel server: " + format, *args)


@contextlib.contextmanager
def serve(cache: Path) -> Iterator[str]:
    """Serve ``cache`` read-only on 127.0.0.1 for the duration of the block; yields its URL."""
    cache.mkdir(parents=True, exist_ok=True)
    handler = functools.partial(_QuietHandler, directory=str(cache))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="wheel-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
