"""Who may do what: roles, bearer tokens kept as SHA-256 hashes, the permission check of each
mutation and the per-client rate limit of anonymous submissions (docs/auth.md)."""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import secrets
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import limits
import strawberry
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, field_validator
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.permission import BasePermission

TOKENS_ENV = "NEWSGRAPH_TOKENS"
TOKENS_FILE_ENV = "NEWSGRAPH_TOKENS_FILE"
# SHA-256 without salt is safe only for tokens nobody can guess; newsgraph's own are 43 characters
# (secrets.token_urlsafe(32)), and a hand-made token in the environment must not be much weaker.
MIN_TOKEN_LENGTH = 32
# Names go into history and audit records and into NEWSGRAPH_TOKENS, where ':' and ',' separate.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"


class Role(StrEnum):
    READER = "reader"
    LOADER = "loader"
    EDITOR = "editor"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is calling: the name recorded in history and audit, and the role checked."""

    name: str
    role: Role

    def can(self, *roles: Role) -> bool:
        """Whether this actor may do what `roles` may do; an admin may do everything."""
        return self.role is Role.ADMIN or self.role in roles

    def __str__(self) -> str:
        return f"{self.name} ({self.role})"


ANONYMOUS = Actor("anonymous", Role.READER)


class AuthError(Exception):
    """A bad Authorization header; the message is shown to the client as is."""


class TokenConfigError(ValueError):
    """A bad NEWSGRAPH_TOKENS entry or tokens file; the message names the entry, never a token."""


def token_hash(token: str) -> str:
    """The hex SHA-256 of a token, as kept in memory and in the tokens file."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenEntry(BaseModel):
    """One entry of the tokens file: the token's hash, never the token."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
    role: Role
    sha256: str

    @field_validator("name")
    @classmethod
    def _not_anonymous(cls, value: str) -> str:
        if value == ANONYMOUS.name:
            raise ValueError(f"{value!r} is reserved for callers without a token")
        return value

    @field_validator("sha256")
    @classmethod
    def _hex_digest(cls, value: str) -> str:
        if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
            raise ValueError(
                "must be the token's SHA-256 as 64 lowercase hex digits (the token itself "
                "never goes in the file; `newsgraph token create` writes the entry)"
            )
        return value


class TokenFile(BaseModel):
    """The tokens file: `{"tokens": [{"name": ..., "role": ..., "sha256": ...}]}`."""

    model_config = ConfigDict(extra="forbid")

    tokens: list[TokenEntry]


def read_token_file(path: Path) -> list[TokenEntry]:
    """The entries of the tokens file at `path`; a `TokenConfigError` names the file and entry."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenConfigError(f"tokens file {path}: cannot read it: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TokenConfigError(f"tokens file {path}: not JSON: {exc}") from None
    try:
        entries = TokenFile.model_validate(data).tokens
    except ValidationError as exc:
        raise TokenConfigError(f"tokens file {path}: {_describe(exc, data)}") from None
    _check_unique(entries, f"tokens file {path}")
    return entries


def write_token_file(path: Path, entries: Sequence[TokenEntry]) -> None:
    """Replace the tokens file at `path` with `entries`, atomically; a new file is made readable
    by its owner only (0600), an existing one keeps its permissions."""
    _check_unique(entries, f"tokens file {path}")
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o600
    text = TokenFile(tokens=list(entries)).model_dump_json(indent=2) + "\n"
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    # Created with its final mode, so the hashes are never readable by others, not even briefly.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)  # os.open's mode is filtered by the umask
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _describe(error: ValidationError, data: Any) -> str:
    """The first problem of a tokens file, by entry number (from 1) and name when it has one."""
    first = error.errors()[0]
    loc = first["loc"]
    message = first["msg"].removeprefix("Value error, ")
    if len(loc) >= 2 and loc[0] == "tokens" and isinstance(loc[1], int):
        entry = f"entry {loc[1] + 1}"
        raw = data["tokens"][loc[1]]
        if isinstance(raw, dict) and isinstance(raw.get("name"), str):
            entry += f" ({raw['name']})"
        field = f" {loc[2]}" if len(loc) > 2 else ""
        return f"{entry}{field}: {message}"
    where = ".".join(str(part) for part in loc)
    return f"{where}: {message}" if where else message


def _check_unique(entries: Sequence[TokenEntry], source: str) -> None:
    names: set[str] = set()
    hashes: set[str] = set()
    for number, entry in enumerate(entries, 1):
        if entry.name in names:
            # One name, one token: audit records would not say which token did it.
            raise TokenConfigError(f"{source}: entry {number} ({entry.name}): duplicate name")
        if entry.sha256 in hashes:
            raise TokenConfigError(
                f"{source}: entry {number} ({entry.name}): the same token as an earlier entry"
            )
        names.add(entry.name)
        hashes.add(entry.sha256)


def parse_token_env(value: str) -> list[TokenEntry]:
    """The entries of NEWSGRAPH_TOKENS (`role:name:token,...`), hashed; no error shows a token."""
    entries: list[TokenEntry] = []
    parts = [part.strip() for part in value.split(",")]
    for number, part in enumerate(parts, 1):
        if not part:
            continue  # a trailing comma
        role, _, rest = part.partition(":")
        name, _, token = rest.partition(":")
        if not token:
            # Not named: with a part missing, the "name" may well be the token.
            raise TokenConfigError(f"{TOKENS_ENV} entry {number}: write it as role:name:token")
        where = f"{TOKENS_ENV} entry {number} ({name})"
        if len(token) < MIN_TOKEN_LENGTH:
            raise TokenConfigError(
                f"{where}: the token is shorter than {MIN_TOKEN_LENGTH} characters; "
                "make one with `newsgraph token create` or `openssl rand -base64 32`"
            )
        try:
            entries.append(TokenEntry(name=name, role=Role(role), sha256=token_hash(token)))
        except ValueError as exc:  # an unknown role, or a ValidationError of the name
            raise TokenConfigError(f"{where}: {_entry_problem(exc, role)}") from None
    _check_unique(entries, TOKENS_ENV)
    return entries


def _entry_problem(exc: ValueError, role: str) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{first['loc'][0]}: {first['msg'].removeprefix('Value error, ')}"
    return f"unknown role {role!r}; use one of {', '.join(Role)}"


class Tokens:
    """The configured tokens, kept only as SHA-256 hashes."""

    def __init__(self, entries: Iterable[TokenEntry] = ()) -> None:
        self._entries = [(bytes.fromhex(e.sha256), Actor(e.name, e.role)) for e in entries]

    @classmethod
    def configured(cls, tokens: str | None = None, tokens_file: Path | None = None) -> Tokens:
        """The tokens of NEWSGRAPH_TOKENS (`tokens`, its text) and NEWSGRAPH_TOKENS_FILE
        (`tokens_file`) together; names are unique across both. Raises `TokenConfigError`
        naming the variable or file and the entry."""
        entries: list[TokenEntry] = []
        if tokens is not None:
            entries += parse_token_env(tokens)
        if tokens_file is not None:
            entries += read_token_file(tokens_file)
        _check_unique(entries, f"{TOKENS_ENV} and {TOKENS_FILE_ENV}")
        return cls(entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Tokens({', '.join(str(actor) for _, actor in self._entries)})"

    def authenticate(self, authorization: str | None) -> Actor:
        """The actor an Authorization header stands for: none is anonymous, `Bearer <token>`
        is the token's actor, anything else is an `AuthError`."""
        if not authorization or not authorization.strip():
            return ANONYMOUS
        parts = authorization.split()
        # The scheme is case-insensitive (RFC 9110, section 11.1).
        if len(parts) != 2 or parts[0].lower() != "bearer":
            raise AuthError("Authorization header must be 'Bearer <token>'")
        presented = hashlib.sha256(parts[1].encode("utf-8")).digest()
        found: Actor | None = None
        # Every entry is compared, in constant time, so the time taken says nothing about which
        # entry (or which prefix of a hash) matched.
        for digest, actor in self._entries:
            if hmac.compare_digest(presented, digest):
                found = actor
        if found is None:
            raise AuthError("the bearer token is not valid")
        return found


def requires(*roles: Role) -> type[BasePermission]:
    """A strawberry permission class: allowed when info.context.actor.can(*roles); its message
    names the operation's field and the roles allowed, e.g. "approveSubmission needs the editor
    or admin role; you are anonymous (reader)"."""
    return _permission(frozenset(roles) | {Role.ADMIN})


@functools.cache
def _permission(roles: frozenset[Role]) -> type[BasePermission]:
    # One class per set of roles: strawberry names a permission's schema directive after its
    # class, and two classes of one name would clash in the schema.
    allowed = [role for role in Role if role in roles]
    names = [str(role) for role in allowed]
    text = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"

    def has_permission(
        self: BasePermission, source: Any, info: strawberry.Info, **kwargs: Any
    ) -> bool:
        actor: Actor = info.context.actor
        if actor.can(*allowed):
            return True
        # Raised here rather than through `message`: one permission instance serves every
        # request of its field, and the message names this request's actor.
        raise StrawberryGraphQLError(
            f"{info.field_name} needs the {text} role; you are {actor}",
            extensions={"code": "UNAUTHENTICATED" if actor == ANONYMOUS else "FORBIDDEN"},
        )

    name = "Requires" + "Or".join(role.value.title() for role in allowed)
    return type(
        name,
        (BasePermission,),
        {
            "has_permission": has_permission,
            "__doc__": f"Allowed to the {text} role.",
            "__module__": __name__,
            "__qualname__": name,
        },
    )


def client_key(actor: Actor, address: str | None) -> str:
    """The rate limiter's key for a caller: its token's name, else its network address."""
    if actor != ANONYMOUS:
        return f"token:{actor.name}"
    return f"address:{address or 'unknown'}"


class RateLimiter:
    """At most `rate` hits per client in any moving window (`limits`' moving window, kept in
    this process's memory; the library expires idle clients)."""

    def __init__(self, rate: str) -> None:
        try:
            items = limits.parse_many(rate)
        except ValueError:
            items = []
        if len(items) != 1:
            raise ValueError(
                f"rate limit {rate!r}: write one rate like 10/minute, 100/hour or 5 per second"
            )
        self.rate = rate
        self._item = items[0]
        self._limiter = limits.strategies.MovingWindowRateLimiter(limits.storage.MemoryStorage())

    def hit(self, client: str) -> bool:
        """True if `client` may go ahead (the hit is counted); False once it is over the rate."""
        return self._limiter.hit(self._item, client)
