"""Platform settings, read from ``SPACES_*`` environment variables.

Every process (controller, builder, worker, git hooks) calls :func:`get_settings`; tests override
values by setting environment variables before the first call or by calling ``get_settings.cache_clear()``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """All knobs of one platform installation."""

    model_config = SettingsConfigDict(env_prefix="SPACES_", extra="ignore")

    data_dir: Path = Path("/var/lib/spaces")
    domain: str = "spaces.localhost"
    http_port: int = 8080
    redis_url: str = "redis://127.0.0.1:6390/0"
    controller_port: int = 8000
    traefik_api_port: int = 8099
    # A registry-hosted base such as "python:3.11-slim"; empty means bootstrap one from Debian packages.
    base_image: str = ""
    debian_mirror: str = "http://deb.debian.org/debian"
    debian_suite: str = "bookworm"
    build_timeout: int = Field(default=1800, ge=10)
    startup_timeout: int = Field(default=300, ge=5)
    # A run worker waits this long at a time for a starting app to answer, then queues the rest of
    # the wait behind other work (a hanging app must not hold a worker others need).
    deploy_wait_slice: float = Field(default=10.0, gt=0)
    push_wait_timeout: int = Field(default=1800, ge=10)
    space_memory_mb: int = Field(default=2048, ge=64)
    space_cpus: float = Field(default=2.0, gt=0)
    space_pids: int = Field(default=512, ge=16)
    # What an app may write outside /data (its container's writable layer), and how many files:
    # measured by the monitor every disk_check_seconds; an app over either is stopped.
    space_disk_mb: int = Field(default=5120, ge=16)
    space_files: int = Field(default=200_000, ge=1000)
    disk_check_seconds: float = Field(default=30.0, gt=0)
    # Sizes of the persistent storage tiers (a file system each, so a real limit), as on HF.
    storage_small_gb: int = Field(default=20, ge=1)
    storage_medium_gb: int = Field(default=150, ge=1)
    storage_large_gb: int = Field(default=1000, ge=1)
    space_network: str = "spaces"
    backend: str = "docker"  # the runtime backend (worker/backends): every worker process uses this one
    # Debian's docker.io client: BuildKit built in (Docker Spaces' build-time secrets need it).
    docker_cli: str = "/usr/bin/docker"
    builders: int = Field(default=2, ge=1, le=32)
    # Run workers: deploys wait for apps to answer, so one slow app must not hold up the others.
    runners: int = Field(default=2, ge=1, le=32)
    max_repo_mb: int = Field(default=1024, ge=1)
    max_repo_files: int = Field(default=20000, ge=1)
    # Sleep (HF's gcTimeout): a Space idle this long is paused (memory kept, wakes in milliseconds);
    # after min(its sleep time, paused_keep) more it is stopped (memory freed). -1: never sleep.
    sleep_time: int = Field(default=172800, ge=-1)
    paused_keep: int = Field(default=600, ge=0)
    idle_check_interval: float = Field(default=1.0, gt=0)
    # The waker: where the routes of sleeping and paused Spaces point (loopback only).
    waker_port: int = 8002
    # Abuse limits: bad tokens per client per minute; failed sign-ins per user and per client
    # per 5 minutes; the largest API request body.
    token_failures_per_minute: int = Field(default=30, ge=1)
    login_failures_per_user: int = Field(default=5, ge=1)
    login_failures_per_client: int = Field(default=20, ge=1)
    max_api_body_kb: int = Field(default=1024, ge=1)
    # Build sandboxes (requirements are resolved, and source distributions built, in throwaway
    # containers): the package index they use, and their limits.
    pip_index_url: str = "https://pypi.org/simple"
    sandbox_memory_mb: int = Field(default=2048, ge=256)
    sandbox_cpus: float = Field(default=2.0, gt=0)
    sandbox_pids: int = Field(default=512, ge=32)
    sandbox_output_mb: int = Field(default=8192, ge=64)  # wheels one resolve may hand back, in all

    @model_validator(mode="after")
    def _redis_credentials(self) -> Settings:
        """Add the platform's Redis password (``<data dir>/redis.password``) to a URL that names none."""
        url = urlsplit(self.redis_url)
        if url.password is None and self.redis_password_file.is_file():
            password = quote(self.redis_password_file.read_text().strip(), safe="")
            self.redis_url = urlunsplit(url._replace(netloc=f":{password}@{url.hostname}:{url.port or 6379}"))
        return self

    @property
    def redis_password_file(self) -> Path:
        """Made by the first ``make up`` (mode 0600); Redis refuses every client without it."""
        return self.data_dir / "redis.password"

    @property
    def repos_dir(self) -> Path:
        return self.data_dir / "repos"

    @property
    def wheel_cache(self) -> Path:
        """Wheels downloaded from the package index (checked by hash), shared by every Space."""
        return self.data_dir / "cache" / "index-wheels"

    def owner_wheel_cache(self, owner: str) -> Path:
        """Wheels a build of ``owner``'s Spaces made (sdists, VCS, paths): seen by that owner's builds only."""
        return self.data_dir / "cache" / "owner-wheels" / owner

    @property
    def static_dir(self) -> Path:
        """Files of static Spaces: ``releases/<label>/<commit>`` and ``sites/<label>`` → the live one."""
        return self.data_dir / "static"

    @property
    def work_dir(self) -> Path:
        return self.data_dir / "work"

    @property
    def controller_url(self) -> str:
        """Where the controller answers on the host (not reachable from Spaces)."""
        return f"http://127.0.0.1:{self.controller_port}"

    @property
    def waker_url(self) -> str:
        return f"http://127.0.0.1:{self.waker_port}"

    @property
    def traefik_api_url(self) -> str:
        return f"http://127.0.0.1:{self.traefik_api_port}"

    def public_url(self, host: str) -> str:
        port = "" if self.http_port == 80 else f":{self.http_port}"
        return f"http://{host}{port}"

    def space_host(self, subdomain: str) -> str:
        return f"{subdomain}.{self.domain}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
