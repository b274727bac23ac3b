"""Roles, bearer tokens and the rate limit of anonymous submissions (api/tokens.py, api/auth.py)."""

from __future__ import annotations

import json
import stat
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import limits.storage.memory
import pytest
import strawberry
from click.testing import CliRunner
from pydantic import ValidationError

from api.auth import RateLimiter, requires
from api.tokens import (
    ANONYMOUS,
    Actor,
    AuthError,
    Role,
    TokenConfigError,
    Tokens,
    client_key,
    token_hash,
)
from newsgraph.cli import main
from newsgraph.settings import Settings
from newsgraph.wiring import make_tokens

ALICE_TOKEN = "alice-" + "a" * 40
EXTRACTOR_TOKEN = "extractor-" + "e" * 40


def settings(**values: Any) -> Settings:
    return Settings.model_validate(values)


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# --- roles ---------------------------------------------------------------------------------


def test_admin_can_do_everything_and_others_only_their_own() -> None:
    assert Actor("root", Role.ADMIN).can(Role.EDITOR)
    assert Actor("root", Role.ADMIN).can()
    assert Actor("alice", Role.EDITOR).can(Role.EDITOR, Role.ADMIN)
    assert not Actor("alice", Role.EDITOR).can(Role.LOADER)
    assert not Actor("extractor", Role.LOADER).can(Role.EDITOR)
    assert not ANONYMOUS.can(Role.EDITOR)


# --- NEWSGRAPH_TOKENS ----------------------------------------------------------------------


def test_tokens_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "NEWSGRAPH_TOKENS", f"editor:alice:{ALICE_TOKEN}, loader:extractor:{EXTRACTOR_TOKEN},"
    )
    tokens = make_tokens(Settings())
    assert len(tokens) == 2
    assert tokens.authenticate(f"Bearer {ALICE_TOKEN}") == Actor("alice", Role.EDITOR)
    assert tokens.authenticate(f"Bearer {EXTRACTOR_TOKEN}") == Actor("extractor", Role.LOADER)
    # Neither the settings nor the tokens show a token when printed or logged.
    assert ALICE_TOKEN not in repr(Settings()) + repr(tokens)
    assert ALICE_TOKEN not in str(vars(tokens))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (f"editr:alice:{ALICE_TOKEN}", "entry 1 (alice): unknown role 'editr'; use one of reader"),
        ("editor:alice:short", "entry 1 (alice): the token is shorter than 32 characters"),
        # Without a name the token would be read as the name: it is not shown either.
        (f"editor:{ALICE_TOKEN}", "entry 1: write it as role:name:token"),
        ("editor:alice", "entry 1: write it as role:name:token"),
        (f"editor:al ice:{ALICE_TOKEN}", "entry 1 (al ice): name: String should match pattern"),
        (f"editor:anonymous:{ALICE_TOKEN}", "'anonymous' is reserved"),
        (
            f"editor:alice:{ALICE_TOKEN},admin:alice:{EXTRACTOR_TOKEN}",
            "entry 2 (alice): duplicate name",
        ),
        (
            f"editor:alice:{ALICE_TOKEN},admin:bob:{ALICE_TOKEN}",
            "entry 2 (bob): the same token as an earlier entry",
        ),
    ],
)
def test_a_bad_environment_entry_is_named_and_its_token_is_not_shown(
    value: str, message: str
) -> None:
    with pytest.raises(TokenConfigError) as error:
        make_tokens(settings(tokens=value))
    assert "NEWSGRAPH_TOKENS" in str(error.value)
    assert message in str(error.value)
    assert ALICE_TOKEN not in str(error.value) and EXTRACTOR_TOKEN not in str(error.value)


# --- NEWSGRAPH_TOKENS_FILE -----------------------------------------------------------------


def test_tokens_from_a_file_of_hashes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_json(
        tmp_path / "tokens.json",
        {"tokens": [{"name": "alice", "role": "editor", "sha256": token_hash(ALICE_TOKEN)}]},
    )
    monkeypatch.setenv("NEWSGRAPH_TOKENS_FILE", str(path))
    monkeypatch.setenv("NEWSGRAPH_TOKENS", f"loader:extractor:{EXTRACTOR_TOKEN}")
    tokens = make_tokens(Settings())
    assert tokens.authenticate(f"Bearer {ALICE_TOKEN}") == Actor("alice", Role.EDITOR)
    assert tokens.authenticate(f"Bearer {EXTRACTOR_TOKEN}") == Actor("extractor", Role.LOADER)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("{", "not JSON"),
        ({"token": []}, "tokens: Field required"),
        (
            {"tokens": [{"name": "alice", "role": "editor", "token": ALICE_TOKEN}]},
            "entry 1 (alice) sha256: Field required",
        ),
        (
            {"tokens": [{"name": "alice", "role": "boss", "sha256": token_hash("x")}]},
            "entry 1 (alice) role: Input should be "
            "'reader', 'loader', 'analyst', 'editor' or 'admin'",
        ),
        (
            {"tokens": [{"name": "alice", "role": "editor", "sha256": ALICE_TOKEN}]},
            "entry 1 (alice) sha256: must be the token's SHA-256 as 64 lowercase hex digits",
        ),
        (
            {
                "tokens": [
                    {"name": "alice", "role": "editor", "sha256": token_hash("1")},
                    {"name": "alice", "role": "admin", "sha256": token_hash("2")},
                ]
            },
            "entry 2 (alice): duplicate name",
        ),
    ],
)
def test_a_bad_tokens_file_is_named_with_its_entry(tmp_path: Path, data: Any, message: str) -> None:
    path = tmp_path / "tokens.json"
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        write_json(path, data)
    with pytest.raises(TokenConfigError) as error:
        make_tokens(settings(tokens_file=path))
    assert str(error.value).startswith(f"tokens file {path}: ")
    assert message in str(error.value)
    # A plain token put in the file by mistake is rejected, and not repeated in the message.
    assert ALICE_TOKEN not in str(error.value)


def test_a_missing_tokens_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(TokenConfigError, match="tokens file .*nowhere.json: cannot read it"):
        make_tokens(settings(tokens_file=tmp_path / "nowhere.json"))


def test_a_name_in_both_the_environment_and_the_file_is_refused(tmp_path: Path) -> None:
    path = write_json(
        tmp_path / "tokens.json",
        {"tokens": [{"name": "alice", "role": "admin", "sha256": token_hash(EXTRACTOR_TOKEN)}]},
    )
    with pytest.raises(TokenConfigError, match=r"entry 2 \(alice\): duplicate name"):
        make_tokens(settings(tokens=f"editor:alice:{ALICE_TOKEN}", tokens_file=path))


# --- the Authorization header --------------------------------------------------------------


@pytest.fixture
def tokens() -> Tokens:
    return make_tokens(
        settings(tokens=f"editor:alice:{ALICE_TOKEN},loader:extractor:{EXTRACTOR_TOKEN}")
    )


@pytest.mark.parametrize("header", [None, "", "  "])
def test_no_header_is_the_anonymous_reader(tokens: Tokens, header: str | None) -> None:
    assert tokens.authenticate(header) is ANONYMOUS


@pytest.mark.parametrize("header", [f"Bearer {ALICE_TOKEN}", f"bearer  {ALICE_TOKEN} "])
def test_the_right_token_is_its_actor(tokens: Tokens, header: str) -> None:
    assert tokens.authenticate(header) == Actor("alice", Role.EDITOR)


@pytest.mark.parametrize(
    "header", [f"Bearer {ALICE_TOKEN}x", f"Bearer {ALICE_TOKEN[:-1]}", "Bearer x"]
)
def test_a_wrong_token_is_refused(tokens: Tokens, header: str) -> None:
    with pytest.raises(AuthError, match="^the bearer token is not valid$"):
        tokens.authenticate(header)


def test_no_token_is_valid_when_none_is_configured() -> None:
    with pytest.raises(AuthError, match="^the bearer token is not valid$"):
        make_tokens(settings()).authenticate(f"Bearer {ALICE_TOKEN}")


@pytest.mark.parametrize(
    "header", [ALICE_TOKEN, f"Basic {ALICE_TOKEN}", "Bearer", f"Bearer {ALICE_TOKEN} more"]
)
def test_a_malformed_header_is_refused(tokens: Tokens, header: str) -> None:
    with pytest.raises(AuthError, match=r"^Authorization header must be 'Bearer <token>'$"):
        tokens.authenticate(header)


# --- newsgraph token -----------------------------------------------------------------------


def create(path: Path, name: str, role: str = "editor") -> Any:
    return CliRunner().invoke(
        main, ["token", "create", "--role", role, "--name", name, "--file", str(path)]
    )


def test_token_create_prints_a_token_that_authenticates(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "tokens.json"
    result = create(path, "alice")
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert len(token) >= 43 and "\n" not in token
    assert "not stored" in result.stderr
    tokens = make_tokens(settings(tokens_file=path))
    assert tokens.authenticate(f"Bearer {token}") == Actor("alice", Role.EDITOR)
    # The file holds the hash only, and only its owner may read it.
    text = path.read_text(encoding="utf-8")
    assert token not in text
    assert json.loads(text) == {
        "tokens": [{"name": "alice", "role": "editor", "sha256": token_hash(token)}]
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_token_create_adds_to_the_file_and_refuses_a_duplicate_name(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    first = create(path, "alice").stdout.strip()
    second = create(path, "extractor", "loader").stdout.strip()
    again = create(path, "alice", "admin")
    assert again.exit_code != 0
    assert "there is a token named 'alice' already" in again.output
    tokens = make_tokens(settings(tokens_file=path))
    assert tokens.authenticate(f"Bearer {first}") == Actor("alice", Role.EDITOR)
    assert tokens.authenticate(f"Bearer {second}") == Actor("extractor", Role.LOADER)

    listed = CliRunner().invoke(main, ["token", "list", "--file", str(path)])
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.split() == ["alice", "editor", "extractor", "loader"]


def test_token_create_takes_the_file_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    result = CliRunner().invoke(
        main,
        ["token", "create", "--role", "admin", "--name", "root"],
        env={"NEWSGRAPH_TOKENS_FILE": str(path)},
    )
    assert result.exit_code == 0, result.output
    assert make_tokens(settings(tokens_file=path)).authenticate(
        f"Bearer {result.stdout.strip()}"
    ) == Actor("root", Role.ADMIN)
    without = CliRunner().invoke(main, ["token", "list"], env={"NEWSGRAPH_TOKENS_FILE": None})
    assert without.exit_code == 2
    assert "give --file PATH or set NEWSGRAPH_TOKENS_FILE" in without.output


def test_token_create_refuses_a_file_in_a_git_checkout(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    result = create(tmp_path / "config" / "tokens.json", "alice")
    assert result.exit_code == 1
    assert "is inside the git checkout" in result.output
    assert not (tmp_path / "config").exists()


def test_token_create_refuses_a_bad_name(tmp_path: Path) -> None:
    result = create(tmp_path / "tokens.json", "alice smith")
    assert result.exit_code == 2
    assert "--name" in result.output
    assert not (tmp_path / "tokens.json").exists()


def test_token_revoke(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    token = create(path, "alice").stdout.strip()
    create(path, "bob")
    path.chmod(0o640)  # e.g. readable by the server's group: revoking keeps that
    result = CliRunner().invoke(main, ["token", "revoke", "--name", "alice", "--file", str(path)])
    assert result.exit_code == 0, result.output
    with pytest.raises(AuthError):
        make_tokens(settings(tokens_file=path)).authenticate(f"Bearer {token}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    again = CliRunner().invoke(main, ["token", "revoke", "--name", "alice", "--file", str(path)])
    assert again.exit_code == 1
    assert "no token named 'alice'" in again.output


# --- role checks in a GraphQL schema -------------------------------------------------------


@dataclass
class Context:
    actor: Actor
    done: list[str] = field(default_factory=list)


@strawberry.type
class Query:
    @strawberry.field
    def ok(self) -> bool:
        return True


def _ingest(info: strawberry.Info[Context, None]) -> int:
    info.context.done.append("ingested")
    return 1


def _approve_submission(info: strawberry.Info[Context, None], id: str) -> str:
    info.context.done.append(f"approved {id}")
    return id


def _merge_outlets(info: strawberry.Info[Context, None]) -> bool:
    info.context.done.append("merged")
    return True


def _set_policy(info: strawberry.Info[Context, None]) -> bool:
    info.context.done.append("policy set")
    return True


@strawberry.type
class Mutation:
    @strawberry.mutation
    def submit_source(self, info: strawberry.Info[Context, None], url: str) -> str:
        info.context.done.append(f"submitted {url}")
        return url

    # Fields rather than decorators: strawberry types `mutation(permission_classes=...)` as Any.
    ingest: int = strawberry.mutation(resolver=_ingest, permission_classes=[requires(Role.LOADER)])
    approve_submission: str = strawberry.mutation(
        resolver=_approve_submission, permission_classes=[requires(Role.EDITOR)]
    )
    merge_outlets: bool = strawberry.mutation(
        resolver=_merge_outlets, permission_classes=[requires(Role.EDITOR, Role.ADMIN)]
    )
    set_policy: bool = strawberry.mutation(
        resolver=_set_policy, permission_classes=[requires(Role.ADMIN)]
    )


schema = strawberry.Schema(query=Query, mutation=Mutation)


def execute(actor: Actor, mutation: str) -> tuple[Any, list[str], Context]:
    context = Context(actor)
    result = schema.execute_sync(f"mutation {{ {mutation} }}", context_value=context)
    return result.data, [error.message for error in result.errors or []], context


ALICE = Actor("alice", Role.EDITOR)
EXTRACTOR = Actor("extractor", Role.LOADER)
ROOT = Actor("root", Role.ADMIN)


def test_a_reader_cannot_approve() -> None:
    data, errors, context = execute(ANONYMOUS, 'approveSubmission(id: "s1")')
    assert data is None
    assert errors == [
        "approveSubmission needs the editor or admin role; you are anonymous (reader)"
    ]
    assert context.done == []  # the resolver never ran


def test_a_loader_cannot_edit_but_can_ingest() -> None:
    assert execute(EXTRACTOR, "mergeOutlets")[1] == [
        "mergeOutlets needs the editor or admin role; you are extractor (loader)"
    ]
    data, errors, context = execute(EXTRACTOR, "ingest")
    assert (data, errors, context.done) == ({"ingest": 1}, [], ["ingested"])


def test_an_editor_can_approve_but_not_set_the_policy() -> None:
    data, errors, context = execute(ALICE, 'approveSubmission(id: "s1")')
    assert (data, errors, context.done) == ({"approveSubmission": "s1"}, [], ["approved s1"])
    data, errors, context = execute(ALICE, "setPolicy")
    assert errors == ["setPolicy needs the admin role; you are alice (editor)"]
    assert context.done == []


def test_an_admin_can_do_everything() -> None:
    for mutation in ["ingest", 'approveSubmission(id: "s1")', "mergeOutlets", "setPolicy"]:
        data, errors, context = execute(ROOT, mutation)
        assert errors == [] and len(context.done) == 1


def test_anyone_may_submit() -> None:
    data, errors, context = execute(ANONYMOUS, 'submitSource(url: "https://example.org/a")')
    assert data == {"submitSource": "https://example.org/a"} and errors == []


def test_a_denial_says_whether_a_token_would_help() -> None:
    def code(actor: Actor) -> Any:
        result = schema.execute_sync("mutation { setPolicy }", context_value=Context(actor))
        assert result.errors is not None
        return (result.errors[0].extensions or {}).get("code")

    assert code(ANONYMOUS) == "UNAUTHENTICATED"
    assert code(ALICE) == "FORBIDDEN"


def test_one_permission_class_per_set_of_roles() -> None:
    # Strawberry names a permission's schema directive after its class.
    assert requires(Role.EDITOR) is requires(Role.ADMIN, Role.EDITOR)
    assert requires(Role.EDITOR).__name__ == "RequiresEditorOrAdmin"
    assert requires(Role.LOADER, Role.EDITOR).__name__ == "RequiresLoaderOrEditorOrAdmin"


# --- the rate limit ------------------------------------------------------------------------


def test_the_rate_limiter_allows_n_then_refuses_per_client() -> None:
    limiter = RateLimiter("3/minute")
    assert [limiter.hit("address:10.0.0.1") for _ in range(4)] == [True, True, True, False]
    assert limiter.hit("address:10.0.0.2")
    assert not limiter.hit("address:10.0.0.1")


def test_the_rate_limiter_allows_again_once_the_window_has_moved(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # limits' memory storage reads the clock through its module's `time`: a still clock
    # moved by hand stands in for it there (nothing else sees it), so no test sleeps.
    now = [1000.0]
    monkeypatch.setattr(limits.storage.memory, "time", SimpleNamespace(time=lambda: now[0]))
    limiter = RateLimiter("1/second")
    assert limiter.hit("a") and not limiter.hit("a")
    now[0] += 0.9
    assert not limiter.hit("a")
    now[0] += 0.2
    assert limiter.hit("a")


@pytest.mark.parametrize("rate", ["ten a minute", "10/fortnight", "", "1/second;10/minute"])
def test_a_bad_rate_is_named(rate: str) -> None:
    with pytest.raises(ValueError, match=f"rate limit '{rate}'"):
        RateLimiter(rate)


def test_the_submit_rate_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().submit_rate == "10/minute"
    monkeypatch.setenv("NEWSGRAPH_SUBMIT_RATE", "100 per hour")
    assert Settings().submit_rate == "100 per hour"
    monkeypatch.setenv("NEWSGRAPH_SUBMIT_RATE", "lots")
    with pytest.raises(ValidationError, match="'lots' is not a rate"):
        Settings()


def test_clients_are_told_apart_by_token_name_else_address() -> None:
    assert client_key(ALICE, "10.0.0.1") == "token:alice"
    assert client_key(ANONYMOUS, "10.0.0.1") == "address:10.0.0.1"
    assert client_key(ANONYMOUS, None) == "address:unknown"
