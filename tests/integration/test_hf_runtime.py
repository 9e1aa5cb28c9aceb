"""The runtime calls of the real, unmodified ``huggingface_hub`` client work against the platform:
runtime, sleep time, hardware, storage, pause and restart."""

from __future__ import annotations

import time
import warnings

import httpx
import pytest
from huggingface_hub import HfApi, SpaceHardware, SpaceStage
from huggingface_hub.errors import RepositoryNotFoundError
from huggingface_hub.utils import HfHubHTTPError

from tests.helpers import base_url, space_url, wait_stage
from tests.integration.test_redeploy import APP


def test_huggingface_hub_runtime_calls(user, other_user, worktree, track):
    space_id = track(f"{user.name}/hubbed", user)
    worktree.write("app.py", APP.format(version="v1"))
    worktree.commit("v1")
    assert worktree.push(user.name, "hubbed", user).returncode == 0
    hub = HfApi(endpoint=base_url(), token=user.token)

    runtime = hub.get_space_runtime(space_id)
    assert runtime.stage == SpaceStage.RUNNING and runtime.hardware == SpaceHardware.CPU_BASIC
    assert runtime.sleep_time == 172800

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the client warns that cpu-basic sleep time is fixed on HF
        assert hub.set_space_sleep_time(space_id, sleep_time=3600).sleep_time == 3600
    assert hub.request_space_hardware(space_id, hardware=SpaceHardware.CPU_UPGRADE).requested_hardware == "cpu-upgrade"
    build_log = list(hub.fetch_space_logs(space_id, build=True))
    assert build_log[0].startswith("===== Build Queued at") and any("Running at" in line for line in build_log), build_log
    # What is there now, then it returns. The monitor copies a new container's output within a second.
    deadline = time.monotonic() + 15
    while not (run_log := list(hub.fetch_space_logs(space_id))) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert run_log and run_log[0].startswith("===== Application Startup at"), run_log

    with pytest.raises(HfHubHTTPError) as refused:
        HfApi(endpoint=base_url(), token=other_user.token).pause_space(space_id)
    assert refused.value.response.status_code == 403

    # Visibility, with both of update_repo_settings' forms: a private Space is "not found" to others.
    hub.update_repo_settings(space_id, private=True, repo_type="space")
    assert hub.space_info(space_id).private is True
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=base_url(), token=other_user.token).space_info(space_id)
    assert httpx.get(space_url(hub.space_info(space_id).subdomain), timeout=30).status_code == 401
    hub.update_repo_settings(space_id, visibility="public", repo_type="space")
    assert HfApi(endpoint=base_url(), token=False).space_info(space_id).private is False

    assert hub.pause_space(space_id).stage == SpaceStage.PAUSED
    assert hub.get_space_runtime(space_id).stage == SpaceStage.PAUSED
    hub.restart_space(space_id)
    wait_stage(space_id, {"RUNNING"}, timeout=120)
    assert hub.get_space_runtime(space_id).hardware == SpaceHardware.CPU_UPGRADE


def test_huggingface_hub_whoami(user):
    me = HfApi(endpoint=base_url(), token=user.token).whoami()
    assert me["name"] == user.name and me["type"] == "user"
    assert me["auth"]["accessToken"]["role"] == "write"
    with pytest.raises(HfHubHTTPError) as refused:
        HfApi(endpoint=base_url(), token="spc_not-a-real-token").whoami()
    assert refused.value.response.status_code == 401
    assert httpx.get(f"{base_url()}/api/whoami-v2", timeout=10).status_code == 401
