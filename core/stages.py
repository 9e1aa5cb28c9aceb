"""The stages a Space goes through, named as Hugging Face names them."""

from __future__ import annotations

from enum import Enum


class Stage(str, Enum):  # noqa: UP042 - a StrEnum formats differently: f"{Stage.RUNNING}" is "Stage.RUNNING" here
    NO_APP_FILE = "NO_APP_FILE"
    CONFIG_ERROR = "CONFIG_ERROR"
    BUILDING = "BUILDING"
    BUILD_ERROR = "BUILD_ERROR"
    APP_STARTING = "APP_STARTING"
    RUNNING = "RUNNING"
    RUNNING_BUILDING = "RUNNING_BUILDING"
    RUNNING_APP_STARTING = "RUNNING_APP_STARTING"
    RUNTIME_ERROR = "RUNTIME_ERROR"
    SLEEPING = "SLEEPING"
    PAUSED = "PAUSED"
    STOPPED = "STOPPED"
    DELETING = "DELETING"

    @property
    def is_error(self) -> bool:
        return self in ERROR_STAGES

    @property
    def is_serving(self) -> bool:
        """True while an earlier version still answers visitors."""
        return self in (Stage.RUNNING, Stage.RUNNING_BUILDING, Stage.RUNNING_APP_STARTING)


ERROR_STAGES = frozenset({Stage.NO_APP_FILE, Stage.CONFIG_ERROR, Stage.BUILD_ERROR, Stage.RUNTIME_ERROR})
# Stages after which a push waiting on its build can stop waiting.
FINAL_STAGES = ERROR_STAGES | {Stage.RUNNING, Stage.PAUSED, Stage.STOPPED, Stage.SLEEPING}


class BuildStatus(str, Enum):  # noqa: UP042 - kept like Stage (a StrEnum formats differently)
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SUPERSEDED = "superseded"


class DeployState(str, Enum):  # noqa: UP042 - kept like Stage
    """A succeeded build's ``deploy`` field: where its deploy is."""

    STARTING = "starting"  # its app was (or is being) started; a job waits for it to answer
    RUNNING = "running"  # it served
    FAILED = "failed"  # its app did not start or answer
    STOPPED = "stopped"  # ended without serving: superseded by a newer build, or the Space paused


# Deploys after which nothing more is logged for the build.
DEPLOY_ENDED = frozenset({DeployState.RUNNING.value, DeployState.FAILED.value, DeployState.STOPPED.value})
