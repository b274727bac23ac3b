"""Who is calling: roles, the actor of a request, and bearer tokens kept as SHA-256 hashes in a
tokens file or the environment (docs/auth.md). No GraphQL here, so the command line reads and
writes tokens without importing the GraphQL stack."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import os
import secrets
import stat
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, field_validator

TOKENS_ENV = "NEWSGRAPH_TOKENS"
TOKENS_FILE_ENV = "NEWSGRAPH_TOKENS_FILE"
# SHA-256 without salt is safe only for tokens nobody can guess; newsgraph's own are 43 characters
# (secrets.token_urlsafe(32)), and a hand-made token in the environment must not be much weaker.
MIN_TOKEN_LENGTH = 32
# Names go into history and audit records and into NEWSGRAPH_TOKENS, where ':' and ',' separate.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"
# IPv6 clients are keyed by their /64: one host commonly holds a whole /64.
IPV6_CLIENT_PREFIX = 64

log = logging.getLogger(__name__)


class Role(StrEnum):
    READER = "reader"
    LOADER = "loader"
    ANALYST = "analyst"
    EDITOR = "editor"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is calling: the name recorded in history and audit, and the role checked."""

    name: str
    role: Role
    # The SHA-256 of the token it came with (None: anonymous); not part of its identity, but
    # what tells a revoked token from one made again under the same name.
    digest: bytes | None = field(default=None, compare=False, repr=False)

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
    """The configured tokens, kept only as SHA-256 hashes. Those of the tokens file are read
    again when the file changes (its size, time or inode: checked on each use, at most
    every `CHECK_EVERY` seconds), so a revoked token stops working without a restart."""

    CHECK_EVERY = 0.5

    def __init__(self, entries: Iterable[TokenEntry] = (), path: Path | None = None) -> None:
        self._fixed = [(bytes.fromhex(e.sha256), Actor(e.name, e.role)) for e in entries]
        self._path = path
        self._seen: tuple[int, int, int] | None = None
        self._checked = 0.0
        self._from_file: list[tuple[bytes, Actor]] = []
        # bumped whenever the file's tokens are read again (open sockets check theirs then)
        self.generation = 0
        if path is not None:
            self._from_file = self._read(path, strict=True)

    @classmethod
    def configured(cls, tokens: str | None = None, tokens_file: Path | None = None) -> Tokens:
        """The tokens of NEWSGRAPH_TOKENS (`tokens`, its text) and NEWSGRAPH_TOKENS_FILE
        (`tokens_file`) together; names are unique across both. Raises `TokenConfigError`
        naming the variable or file and the entry."""
        entries: list[TokenEntry] = []
        if tokens is not None:
            entries += parse_token_env(tokens)
        if tokens_file is not None:
            _check_unique(
                entries + read_token_file(tokens_file), f"{TOKENS_ENV} and {TOKENS_FILE_ENV}"
            )
        return cls(entries, tokens_file)

    def _read(self, path: Path, strict: bool) -> list[tuple[bytes, Actor]]:
        """The file's tokens; `strict` (at start) raises on a bad file, otherwise (a file
        changed under a running server) a bad file is logged and gives no tokens at all: a
        revocation never leaves a token working because the file could not be read."""
        try:
            status = path.stat()
            self._seen = (status.st_mtime_ns, status.st_size, status.st_ino)
            check_permissions(path, status.st_mode)
            entries = read_token_file(path)
            names = {actor.name for _, actor in self._fixed}
            for entry in entries:
                if entry.name in names:
                    raise TokenConfigError(
                        f"{TOKENS_ENV} and {TOKENS_FILE_ENV}: {entry.name}: duplicate name"
                    )
        except (OSError, TokenConfigError) as exc:
            if strict:
                if isinstance(exc, OSError):
                    raise TokenConfigError(f"tokens file {path}: cannot read it: {exc}") from None
                raise
            log.error("%s; no token of the file is accepted until it is fixed", exc)
            return []
        return [(bytes.fromhex(e.sha256), Actor(e.name, e.role)) for e in entries]

    def refresh(self) -> bool:
        """Read the tokens file again if it changed since it was read; True when it was."""
        path = self._path
        if path is None:
            return False
        now = time.monotonic()
        if now - self._checked < self.CHECK_EVERY:
            return False
        self._checked = now
        try:
            status = path.stat()
            seen: tuple[int, int, int] | None = (
                status.st_mtime_ns,
                status.st_size,
                status.st_ino,
            )
        except OSError:
            seen = None
        if seen is not None and seen == self._seen:
            return False
        self._from_file = self._read(path, strict=False)
        self.generation += 1
        return True

    @property
    def _entries(self) -> list[tuple[bytes, Actor]]:
        return self._fixed + self._from_file

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
        return self.token_actor(parts[1])

    def token_actor(self, token: str) -> Actor:
        """The actor of a bearer token; an `AuthError` for an unknown one."""
        self.refresh()
        presented = hashlib.sha256(token.encode("utf-8")).digest()
        found: Actor | None = None
        # Every entry is compared, in constant time, so the time taken says nothing about which
        # entry (or which prefix of a hash) matched.
        for digest, actor in self._entries:
            if hmac.compare_digest(presented, digest):
                found = Actor(actor.name, actor.role, presented)
        if found is None:
            raise AuthError("the bearer token is not valid")
        return found

    def valid(self, actor: Actor) -> bool:
        """Whether `actor` (as `authenticate` gave it) still stands: anonymous, or its token
        is still configured (not revoked since)."""
        if actor.digest is None:
            return True
        self.refresh()
        return any(hmac.compare_digest(actor.digest, digest) for digest, _ in self._entries)

    def role_of(self, name: str) -> Role | None:
        """The role of the token named `name`, if one is configured."""
        self.refresh()
        for _, actor in self._entries:
            if actor.name == name:
                return actor.role
        return None


def check_permissions(path: Path, mode: int) -> None:
    """Refuse a tokens file others may write (they could add an admin token); warn when
    others may read it (it holds hashes and names, not tokens, but there is no reason to)."""
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise TokenConfigError(
            f"tokens file {path}: others may write it (mode {stat.S_IMODE(mode):04o}); "
            f"run chmod 600 {path}"
        )
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        log.warning(
            "tokens file %s: others may read it (mode %04o); run chmod 600 on it",
            path,
            stat.S_IMODE(mode),
        )


def client_key(actor: Actor, address: str | None) -> str:
    """The rate limiter's key for a caller: its token's name, else its network address (an
    IPv6 address by its /64, an IPv4-mapped one as the IPv4 address)."""
    if actor != ANONYMOUS:
        return f"token:{actor.name}"
    return f"address:{address_key(address)}"


def address_key(address: str | None) -> str:
    """A client address as limits count it: IPv4 as is, IPv6 by its /64."""
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        network = ipaddress.IPv6Network((ip, IPV6_CLIENT_PREFIX), strict=False)
        return str(network)
    return str(ip)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str | Iterable[str]) -> list[Network]:
    """Addresses and networks, comma-separated (`10.0.0.1, 172.16.0.0/12, ::1`); a
    ValueError names the bad one."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    networks: list[Network] = []
    for part in (p.strip() for p in parts):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"{part!r} is not an IP address or network") from None
    return networks


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]
) -> str | None:
    """The client's address: the connection's (`peer`), unless it is a trusted proxy; then
    the rightmost address of `X-Forwarded-For` that is not a trusted proxy (each proxy
    appends the address it got the request from, so the entries left of an untrusted one
    are whatever the client chose to write)."""
    if peer is None or not trusted or not _trusted(peer, trusted) or not forwarded_for:
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",")]
    for hop in reversed(hops):
        if not hop:
            continue
        if not _trusted(hop, trusted):
            return hop
    return hops[0] or peer


def request_address(scope: Mapping[str, Any], trusted: Sequence[Network]) -> str | None:
    """The address of an ASGI request's client: the connection's, or, from a trusted proxy,
    what its X-Forwarded-For says (`client_address`)."""
    peer = scope["client"][0] if scope.get("client") else None
    if not trusted:
        return peer
    forwarded = next(
        (value.decode("latin-1") for name, value in scope["headers"] if name == b"x-forwarded-for"),
        None,
    )
    return client_address(peer, forwarded, trusted)


def _trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in trusted)
