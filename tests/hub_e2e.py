"""End to end with an unmodified ``huggingface_hub`` and ``gradio_client``, as a user's script would
run them: ``python tests/hub_e2e.py ENDPOINT TOKEN USER EXAMPLE_DIR``.

It runs in whatever environment starts it (the tests start it in two venvs, one per
huggingface_hub version) and imports nothing of the platform. Each step prints one line; the first
failure raises, so the exit code says whether everything worked.
"""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from pathlib import Path

import huggingface_hub
from gradio_client import Client
from huggingface_hub import HfApi, hf_hub_download

try:
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError
except ImportError:  # huggingface_hub < 0.20
    from huggingface_hub.utils import EntryNotFoundError, RepositoryNotFoundError


def step(text: str) -> None:
    print(f"ok  {text}", flush=True)


def wait_running(api: HfApi, repo_id: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    stage = None
    while time.monotonic() < deadline:
        stage = str(api.get_space_runtime(repo_id).stage)
        if stage.endswith("RUNNING"):
            return
        if "ERROR" in stage:
            raise AssertionError(f"{repo_id} ended in {stage}: {api.get_space_runtime(repo_id).raw.get('errorMessage')}")
        time.sleep(1)
    raise AssertionError(f"{repo_id} stayed {stage}")


def client(url: str, token: str) -> Client:
    try:
        return Client(url, token=token, verbose=False)
    except TypeError:  # gradio_client 1.x
        return Client(url, hf_token=token, verbose=False)


def main() -> None:
    endpoint, token, user, example = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
    api = HfApi(endpoint=endpoint, token=token)
    print(f"huggingface_hub {huggingface_hub.__version__}", flush=True)
    name = f"hub-{uuid.uuid4().hex[:8]}"
    repo_id = f"{user}/{name}"

    assert api.whoami()["name"] == user
    step("whoami")
    url = api.create_repo(repo_id, repo_type="space", space_sdk="gradio")
    assert str(url).rstrip("/").endswith(f"/spaces/{repo_id}"), url
    again = api.create_repo(repo_id, repo_type="space", space_sdk="gradio", exist_ok=True)
    assert str(again).rstrip("/").endswith(f"/spaces/{repo_id}"), again
    step("create_repo, then again with exist_ok")
    assert api.repo_exists(repo_id, repo_type="space") and not api.repo_exists(f"{user}/absent-{name}", repo_type="space")
    step("repo_exists")

    api.upload_folder(repo_id=repo_id, repo_type="space", folder_path=str(example), commit_message="upload the app")
    wait_running(api, repo_id)
    info = api.space_info(repo_id)
    files = {s.rfilename for s in info.siblings}
    assert {"app.py", "README.md"} <= files, files
    step(f"upload_folder → RUNNING; space_info lists {sorted(files)}")
    host = info.host if getattr(info, "host", None) else api.space_info(repo_id).host
    answer = client(host, token).predict("hub", api_name="/greet")
    assert answer == "Hello, hub!", answer
    step("gradio_client predict")
    if hasattr(api, "fetch_space_logs"):  # huggingface_hub ≥ 1.x: the build and run logs (SSE)
        build_log = "".join(api.fetch_space_logs(repo_id, build=True))
        assert "Running at" in build_log, build_log[-500:]
        run_log = "".join(api.fetch_space_logs(repo_id))
        assert "===== Application Startup at" in run_log, run_log[-500:]
        step("fetch_space_logs (build and run)")

    api.upload_file(path_or_fileobj=b"notes\n", path_in_repo="docs/notes.txt", repo_id=repo_id, repo_type="space")
    path = hf_hub_download(repo_id=repo_id, filename="docs/notes.txt", repo_type="space", endpoint=endpoint, token=token,
                           cache_dir=tempfile.mkdtemp())
    assert Path(path).read_bytes() == b"notes\n"
    step("upload_file, hf_hub_download")
    api.delete_file("docs/notes.txt", repo_id=repo_id, repo_type="space")
    try:
        hf_hub_download(repo_id=repo_id, filename="docs/notes.txt", repo_type="space", endpoint=endpoint, token=token,
                        cache_dir=tempfile.mkdtemp(), force_download=True)
        raise AssertionError("a deleted file was still downloadable")
    except EntryNotFoundError:
        pass
    step("delete_file (a commit with a deletion)")
    try:
        api.upload_file(path_or_fileobj=b"---\nsdk: nonsense\n---\n", path_in_repo="README.md", repo_id=repo_id, repo_type="space")
        raise AssertionError("an invalid README.md was accepted")
    except ValueError as exc:
        assert "sdk" in str(exc), exc
    step("validate-yaml refuses a bad README before uploading")

    api.add_space_variable(repo_id, "GREETING", "bonjour")
    api.add_space_secret(repo_id, "API_KEY", "secret-value-1234")
    variables = api.get_space_variables(repo_id)
    assert variables["GREETING"].value == "bonjour", variables
    api.add_space_variable(repo_id, "DROPPED", "x")
    api.delete_space_variable(repo_id, "DROPPED")
    api.add_space_secret(repo_id, "DROPPED_SECRET", "y-1234")
    api.delete_space_secret(repo_id, "DROPPED_SECRET")
    assert "DROPPED" not in api.get_space_variables(repo_id)
    step("add_space_variable, add_space_secret, get_space_variables, delete_space_variable, delete_space_secret")

    assert str(api.pause_space(repo_id).stage).endswith("PAUSED")
    api.restart_space(repo_id)
    wait_running(api, repo_id)
    step("pause_space, restart_space")
    api.restart_space(repo_id, factory_reboot=True)
    wait_running(api, repo_id)
    step("restart_space(factory_reboot=True)")

    listed = [s.id for s in api.list_spaces(author=user)]
    assert repo_id in listed, listed
    assert [s.id for s in api.list_spaces(search=name)] == [repo_id]
    step("list_spaces (author, search)")

    api.update_repo_settings(repo_id, private=True, repo_type="space")
    assert api.space_info(repo_id).private is True
    assert client(repo_id, token).predict("private", api_name="/greet") == "Hello, private!"
    step("gradio_client by Space id (resolved through HF_ENDPOINT) on a private Space, with a token")
    try:
        HfApi(endpoint=endpoint, token=False).space_info(repo_id)
        raise AssertionError("a private Space was visible anonymously")
    except RepositoryNotFoundError:
        pass
    api.update_repo_settings(repo_id, private=False, repo_type="space")
    step("update_repo_settings (private and back)")

    copy_id = f"{user}/{name}-copy"
    if hasattr(api, "duplicate_repo"):  # huggingface_hub 2.x
        api.duplicate_repo(repo_id, to_id=copy_id, repo_type="space")
    else:
        api.duplicate_space(repo_id, to_id=copy_id)
    wait_running(api, copy_id)
    assert api.get_space_variables(copy_id)["GREETING"].value == "bonjour"
    step("duplicate_repo / duplicate_space → RUNNING, variables copied")

    for target in (copy_id, repo_id):
        api.delete_repo(target, repo_type="space")
    api.delete_repo(repo_id, repo_type="space", missing_ok=True)
    step("delete_repo, then again with missing_ok")
    print("all steps passed", flush=True)


if __name__ == "__main__":
    main()
