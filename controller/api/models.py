"""What the REST API takes and answers: one Pydantic model per request and response body.

Answers keep Hugging Face's field names, so that an unmodified ``huggingface_hub`` reads them:
fields are snake_case in Python and camelCase on the wire (``ApiModel``'s alias generator), except
where the Hub itself writes snake_case (``cardData``'s keys) or something else (``_id``). Fields
that are sometimes left out of an answer (``sha`` and ``siblings`` for those who may not read the
repository, ``auth.accessToken`` for a browser session) default to None, and their routes answer
with ``response_model_exclude_unset`` so that they stay out rather than show as ``null``.

Requests that the API checked by hand before it had these models still are, with the same
messages and statuses (400, :class:`core.errors.InvalidInput`): each model's ``before`` validator
runs those checks, in their old order, before Pydantic's own, and raises the platform's error
(which Pydantic lets through as it is). The web forms build the same models, so they get the same
checks. Fields the Hub sends that we do not use are ignored.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StrictStr, field_validator, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from core import accounts, envvars, repos
from core.access import VISIBILITIES, visibility_from
from core.errors import InvalidInput
from core.hardware import STORAGE_TIERS, TIERS
from core.names import validate_label
from core.services import MAX_SLEEP_SECONDS, check_sleep_seconds

SDKS = ("gradio", "streamlit", "docker", "static")
class ApiModel(BaseModel):
    """snake_case in Python, camelCase on the wire (as the Hub writes its fields)."""

    # Not populate_by_name: a request must use the wire names, which the hand checks look at.
    model_config = ConfigDict(alias_generator=to_camel)


def _fields(data: object) -> dict[str, Any] | None:
    """The request's JSON object, or None if it is none (Pydantic then says so)."""
    return data if isinstance(data, dict) else None


# ------------------------------------------------------------------------------------- Spaces


class HardwareState(BaseModel):
    current: str | None = Field(description="the tier the app runs on now; null while it is not serving")
    requested: str


class Replicas(BaseModel):
    current: int
    requested: int


class SpaceRuntime(ApiModel):
    """A Space's runtime, as the Hub shows it."""

    stage: str = Field(description="BUILDING, RUNNING, SLEEPING, PAUSED, RUNTIME_ERROR, ... (core.stages.Stage)")
    hardware: HardwareState
    storage: str | None = Field(description="the persistent storage tier (small, medium, large), if any")
    gc_timeout: int | None = Field(description="idle seconds before the Space sleeps; null: never")
    replicas: Replicas
    dev_mode: bool
    error_message: str | None = Field(description="why the stage is an error; log lines only for those who may read the logs")


class CardData(BaseModel):
    """The README front matter's card fields (snake_case, as the Hub writes them)."""

    title: str
    emoji: str | None
    short_description: str | None
    sdk: str | None


class SpaceInfo(ApiModel):
    """A Space as the Hub lists it."""

    object_id: str = Field(alias="_id")
    id: str
    author: str
    sdk: str | None
    private: bool
    visibility: str = Field(description=", ".join(VISIBILITIES))
    created_at: str | None
    last_modified: str | None
    subdomain: str
    host: str
    url: str
    card_data: CardData
    runtime: SpaceRuntime


class Sibling(ApiModel):
    rfilename: str
    size: int
    blob_id: str


class SpaceRepoInfo(SpaceInfo):
    """A Space with, for those who may read its repository, its head commit and files."""

    sha: str | None = Field(default=None, description="the commit; only for those who may read the repository")
    siblings: list[Sibling] | None = Field(default=None, description="its files; only for those who may read the repository")


class SpaceDeletion(ApiModel):
    id: str
    stage: str


class SpaceVisibility(ApiModel):
    id: str
    private: bool
    visibility: str


class BuildInfo(ApiModel):
    id: str
    commit: str | None
    status: str | None
    queued_at: str | None
    started_at: str | None
    finished_at: str | None
    duration_seconds: float | None
    error: str | None


class SettingsUpdate(BaseModel):
    """``{"private": bool}`` or ``{"visibility": ...}`` (what huggingface_hub's ``update_repo_settings`` sends, old and new)."""

    private: bool | None = None
    visibility: str | None = Field(default=None, description=", ".join(VISIBILITIES))

    @model_validator(mode="before")
    @classmethod
    def _check(cls, data: object) -> object:
        if (body := _fields(data)) is not None:
            unknown = sorted(set(body) - {"private", "visibility"})
            if unknown or not body:
                raise InvalidInput(f"settings accepts 'private' (true/false) or 'visibility' ({', '.join(VISIBILITIES)}); got {sorted(body)}")
            visibility_from(body)
        return data

    def wanted(self) -> str:
        return visibility_from(self.model_dump(exclude_unset=True))


# ------------------------------------------------------------------------------------ runtime


class RestartAnswer(SpaceRuntime):
    id: str
    build: str
    factory: bool


class RollbackAnswer(SpaceRuntime):
    id: str
    build: str
    commit: str


class Rollback(BaseModel):
    build: StrictInt | StrictStr = Field(description="the id of an earlier successful build")

    @field_validator("build", mode="before")
    @classmethod
    def _an_id(cls, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise PydanticCustomError("build_id", "must be a build id (a whole number, or one as text)")
        return value


class SleepTime(BaseModel):
    seconds: int = Field(description=f"-1 (never sleep) or 1 to {MAX_SLEEP_SECONDS}")

    @model_validator(mode="before")
    @classmethod
    def _check(cls, data: object) -> object:
        if (body := _fields(data)) is not None and "seconds" in body:
            check_sleep_seconds(body["seconds"])
        return data


class StorageRequest(BaseModel):
    tier: str = Field(description=", ".join(STORAGE_TIERS))

    @model_validator(mode="before")
    @classmethod
    def _check(cls, data: object) -> object:
        if (body := _fields(data)) is not None and "tier" in body and body["tier"] not in STORAGE_TIERS:
            raise InvalidInput(f"tier must be one of {', '.join(STORAGE_TIERS)}; got {body['tier']!r}")
        return data


class HardwareRequest(BaseModel):
    flavor: str = Field(description=", ".join(TIERS))

    @model_validator(mode="before")
    @classmethod
    def _check(cls, data: object) -> object:
        if (body := _fields(data)) is not None and "flavor" in body and body["flavor"] not in TIERS:
            raise InvalidInput(f"flavor must be one of {', '.join(TIERS)} (this platform has no GPUs); got {body['flavor']!r}")
        return data


# ------------------------------------------------------------------------ variables and secrets


class EnvEntry(BaseModel):
    key: str = Field(max_length=128)
    value: str = ""
    description: str = Field(default="", max_length=1000)


class EnvKey(BaseModel):
    key: str = Field(max_length=128)


class VariableInfo(ApiModel):
    key: str
    value: str
    description: str
    updated_at: str | None


class SecretInfo(ApiModel):
    """A secret as the API shows it: never its value."""

    key: str
    description: str
    updated_at: str | None


# ------------------------------------------------------------------------- users and tokens


class AccessTokenInfo(ApiModel):
    display_name: str
    role: str
    created_at: str | None


class WhoAmIAuth(ApiModel):
    type: str = Field(description="access_token or session")
    access_token: AccessTokenInfo | None = Field(default=None, description="the token used; absent for a browser session")


class OrgOfUser(ApiModel):
    type: str
    name: str
    fullname: str
    role_in_org: str


class WhoAmI(ApiModel):
    """Who the caller is, in the Hub's shape."""

    type: str
    id: str
    name: str
    fullname: str
    email: str | None
    email_verified: bool
    is_pro: bool
    can_pay: bool
    avatar_url: str | None
    is_admin: bool
    orgs: list[OrgOfUser]
    auth: WhoAmIAuth


class NewToken(BaseModel):
    name: str = Field(max_length=200)
    role: str = Field(default="read", description="read or write")


class TokenInfo(ApiModel):
    """A token as listed: never its value."""

    id: str
    name: str | None
    role: str | None
    created_at: str | None
    last_used_at: str | None


class CreatedToken(TokenInfo):
    token: str = Field(description="the token's value: in this answer only")


class NewUser(BaseModel):
    name: str = Field(max_length=100)
    role: str = Field(default="user", description="user or admin")
    password: str | None = Field(default=None, max_length=accounts.MAX_PASSWORD)


class UserInfo(ApiModel):
    name: str
    role: str
    created_at: str | None
    has_password: bool
    orgs: dict[str, str] = Field(description="organization → role in it")
    state: str


class CreatedUser(UserInfo):
    token: str = Field(description="the new user's first write token: in this answer only")


class AccountRemoval(BaseModel):
    """A user or organization deleted (``state`` deleted) or being deleted with its Spaces (``deleting``)."""

    name: str
    type: str
    state: str
    spaces: list[str]


# ----------------------------------------------------------------------------- organizations


class NewOrg(BaseModel):
    name: str = Field(max_length=100)
    admin: str | None = Field(default=None, max_length=100, description="its first admin; platform admins may name another user")


class Member(BaseModel):
    user: str = Field(max_length=100)
    role: str = Field(default="read", description="read, write or admin")


class OrgInfo(ApiModel):
    type: str
    name: str
    created_at: str | None
    members: list[Member]


# ------------------------------------------------------------------------ the Hub's repo calls


def _only_spaces(kind: object) -> None:
    if kind != "space":
        raise InvalidInput(f"only Spaces are hosted here: the repo type must be 'space'; got {kind!r}")


def _check_env_entries(body: dict[str, Any], field: str) -> None:
    entries = body.get(field) or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("key"), str) for e in entries):
        raise InvalidInput(f"{field} must be a list of {{\"key\", \"value\", \"description\"}}")
    for entry in entries:
        envvars.validate_key(entry["key"], field.rstrip("s"))
    body[field] = entries  # an empty value means none


def _text(value: object) -> str:
    return str(value)


def _text_or_empty(value: object) -> str:
    return str(value) if value else ""


class NewEnvEntry(BaseModel):
    """A variable or secret given with a new Space (values are taken as text)."""

    key: str
    value: Annotated[str, BeforeValidator(_text)] = ""
    description: Annotated[str, BeforeValidator(_text_or_empty)] = ""


class SpaceOptions(ApiModel):
    """The Space settings a create or duplicate request may carry, checked before anything is made."""

    private: bool | None = None
    visibility: str | None = Field(default=None, description=", ".join(VISIBILITIES))
    hardware: str | None = Field(default=None, description=", ".join(TIERS))
    sleep_time_seconds: int | None = Field(default=None, description=f"-1 (never sleep) or 1 to {MAX_SLEEP_SECONDS}")
    secrets: list[NewEnvEntry] = []
    variables: list[NewEnvEntry] = []

    @staticmethod
    def check_options(body: dict[str, Any], default_visibility: str) -> None:
        """The hand checks of these settings, in the order the API has always made them."""
        visibility_from(body, default_visibility)
        hardware = body.get("hardware")
        if hardware is not None and hardware not in TIERS:
            raise InvalidInput(f"hardware must be one of {', '.join(TIERS)} (this platform has no GPUs); got {hardware!r}")
        sleep = body.get("sleepTimeSeconds")
        if sleep is not None:
            check_sleep_seconds(sleep, "sleepTimeSeconds")
        _check_env_entries(body, "secrets")
        _check_env_entries(body, "variables")

    def visibility_or(self, default: str) -> str:
        """The visibility asked for, else ``default``."""
        return visibility_from(self.model_dump(include={"private", "visibility"}, exclude_unset=True), default)


class NewRepo(SpaceOptions):
    """huggingface_hub's ``create_repo``: a Space (``type`` must be ``space``) named ``name`` in the
    caller's namespace or ``organization``."""

    type: str = Field(description="space")
    name: str
    organization: str | None = None
    sdk: str = Field(description=", ".join(SDKS))

    @model_validator(mode="before")
    @classmethod
    def _check(cls, data: object) -> object:
        if (body := _fields(data)) is None:
            return data
        body = dict(body)
        _only_spaces(body.get("type"))
        if not body.get("organization"):
            body.pop("organization", None)  # the caller's own namespace
        else:
            validate_label(body["organization"], "owner name")
        validate_label(body.get("name"), "Space name")
        if body.get("sdk") not in SDKS:
            raise InvalidInput(f"sdk must be one of {', '.join(SDKS)}; got {body.get('sdk')!r}")
        cls.check_options(body, "public")
        return body


class RepoRef(BaseModel):
    """huggingface_hub's ``delete_repo``: the Space ``name`` of the caller or of ``organization``."""

    type: str = Field(description="space")
    name: str
    organization: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _check(cls, data: object) -> object:
        if (body := _fields(data)) is None:
            return data
        body = dict(body)
        _only_spaces(body.get("type"))
        if not body.get("organization"):
            body.pop("organization", None)
        else:
            validate_label(body["organization"], "owner name")
        validate_label(body.get("name"), "Space name")
        return body


class Duplicate(SpaceOptions):
    """huggingface_hub's ``duplicate_space``: copy to ``repository`` (``owner/name``)."""

    repository: str

    @model_validator(mode="before")
    @classmethod
    def _check(cls, data: object) -> object:
        if (body := _fields(data)) is None:
            return data
        body = dict(body)
        target = body.get("repository")
        if not isinstance(target, str) or target.count("/") != 1:
            raise InvalidInput(f"repository must be 'owner/name'; got {target!r}")
        owner, name = target.split("/")
        validate_label(owner, "owner name")
        validate_label(name, "Space name")
        cls.check_options(body, "public")
        return body


class RepoCreated(BaseModel):
    url: str
    name: str
    id: str


class RepoExists(BaseModel):
    """409: the Space exists already; ``url`` is its repository (``create_repo(exist_ok=True)`` reads it)."""

    error: str
    url: str


class Duplicated(BaseModel):
    url: str
    id: str


class PreuploadFile(BaseModel):
    path: str
    size: int | None = None
    sample: str | None = Field(default=None, description="the file's first bytes, base64")


class Preupload(BaseModel):
    files: list[PreuploadFile]

    @model_validator(mode="before")
    @classmethod
    def _check(cls, data: object) -> object:
        if (body := _fields(data)) is None:
            return data
        files = body.get("files")
        if not isinstance(files, list) or not all(isinstance(f, dict) for f in files):
            raise InvalidInput("files must be a list of {\"path\", \"size\", \"sample\"}")
        for f in files:
            repos.validate_path(f.get("path"))
        return data


class UploadMode(ApiModel):
    path: str
    upload_mode: str = Field(description="regular: every file is stored in git")
    should_ignore: bool
    oid: str | None = Field(description="the blob id of the file at that revision, if it is there")


class PreuploadAnswer(BaseModel):
    files: list[UploadMode]


class CommitAnswer(ApiModel):
    success: bool
    commit_oid: str
    commit_url: str
    commit_message: str
    pull_request_url: str | None
    build: str = Field(description="the build this commit started")


class YamlCheck(BaseModel):
    content: str | None = Field(default=None, description="the README.md text")

    @model_validator(mode="before")
    @classmethod
    def _text_only(cls, data: object) -> object:
        if (body := _fields(data)) is not None and not isinstance(body.get("content"), str):
            return {**body, "content": None}  # answered in the report's own shape, as before
        return data


class YamlMessage(BaseModel):
    message: str


class YamlReport(BaseModel):
    errors: list[YamlMessage]
    warnings: list[YamlMessage]
