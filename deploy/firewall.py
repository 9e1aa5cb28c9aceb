"""Keep Spaces and build containers away from the host's own services.

A container reaches the internet through Docker's NAT (the FORWARD path), and its DNS is Docker's
embedded resolver inside its own network namespace (user-defined networks) or the host's upstream
nameserver, also forwarded (the default bridge). Nothing the platform runs needs a packet from a
container to the *host itself* (the INPUT path) — but without a rule every service that some
program on the host bound to ``0.0.0.0`` answers every tenant. So new connections arriving from the
Spaces' bridge and from Docker's default bridge (image builds) are refused; replies to connections
the host opened (Traefik, health checks) still pass.

``install`` is idempotent (``make up`` runs it each time); ``remove`` undoes it (``make down``).
Rules go into a chain of their own, jumped to from INPUT once per bridge, with IPv4 and IPv6 alike.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Iterable

log = logging.getLogger("spaces.firewall")

CHAIN = "SPACES-HOST-INPUT"
TOOLS = ("iptables", "ip6tables")
DEFAULT_BRIDGE = "docker0"


class FirewallError(RuntimeError):
    pass


def _run(argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise FirewallError(f"{' '.join(argv)} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done


def tools() -> list[str]:
    """The iptables commands present (``ip6tables`` is skipped where the host has no IPv6 tables)."""
    found = [tool for tool in TOOLS if shutil.which(tool)]
    if "iptables" not in found:
        raise FirewallError("iptables is not installed; deploy/install.sh installs it (Debian package iptables)")
    return [tool for tool in found if _run([tool, "-w", "-S", "INPUT"], check=False).returncode == 0]


def bridge_of(network: str) -> str | None:
    """The host interface of a Docker bridge network, or None if the network does not exist."""
    done = _run(["docker", "network", "inspect", "--format",
                 '{{.Id}} {{index .Options "com.docker.network.bridge.name"}}', network], check=False)
    if done.returncode != 0:
        return None
    network_id, _, name = done.stdout.strip().partition(" ")
    name = name.strip()
    if name and name != "<no value>":
        return name
    return f"br-{network_id[:12]}"


def chain_rules(tool: str) -> list[list[str]]:
    """The chain's body: replies pass, new TCP is reset (a prompt, clear refusal), the rest dropped."""
    reject = ["-j", "REJECT", "--reject-with", "tcp-reset"]
    return [
        ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"],
        ["-p", "tcp", *reject],
        ["-j", "DROP"],
    ]


def _jumps(tool: str) -> list[list[str]]:
    """INPUT rules that jump to our chain, as ``-A INPUT ...`` argument lists."""
    listing = _run([tool, "-w", "-S", "INPUT"]).stdout.splitlines()
    return [line.split() for line in listing if line.startswith("-A INPUT ") and line.split()[-1] == CHAIN]


def _chain_exists(tool: str) -> bool:
    return _run([tool, "-w", "-S", CHAIN], check=False).returncode == 0


def install(interfaces: Iterable[str]) -> list[str]:
    """Refuse new connections from ``interfaces`` to the host. Returns the interfaces covered."""
    wanted = sorted(set(interfaces))
    for tool in tools():
        if not _chain_exists(tool):
            _run([tool, "-w", "-N", CHAIN])
        _run([tool, "-w", "-F", CHAIN])
        for rule in chain_rules(tool):
            _run([tool, "-w", "-A", CHAIN, *rule])
        present = {rule[rule.index("-i") + 1] for rule in _jumps(tool) if "-i" in rule}
        for interface in wanted:
            if interface not in present:
                _run([tool, "-w", "-I", "INPUT", "1", "-i", interface, "-j", CHAIN])
        for rule in _jumps(tool):  # bridges of networks that were since recreated
            if "-i" not in rule or rule[rule.index("-i") + 1] not in wanted:
                _run([tool, "-w", "-D", *rule[1:]])
    log.info("host firewall: new connections from %s to the host are refused", ", ".join(wanted))
    return wanted


def remove() -> bool:
    """Take the rules out again; True if there were any."""
    found = False
    for tool in tools():
        for rule in _jumps(tool):
            _run([tool, "-w", "-D", *rule[1:]])
            found = True
        if _chain_exists(tool):
            _run([tool, "-w", "-F", CHAIN])
            _run([tool, "-w", "-X", CHAIN])
            found = True
    return found


def installed(interface: str) -> bool:
    """Whether new connections from ``interface`` to the host are refused now (IPv4)."""
    return _chain_exists("iptables") and any(
        "-i" in rule and rule[rule.index("-i") + 1] == interface for rule in _jumps("iptables"))


def platform_bridges(space_network: str) -> list[str]:
    """The bridges whose containers run tenants' code: the Spaces' network (Spaces and build
    sandboxes) and Docker's default bridge (image builds)."""
    found = [bridge_of(space_network), bridge_of("bridge") or DEFAULT_BRIDGE]
    return [name for name in found if name]
