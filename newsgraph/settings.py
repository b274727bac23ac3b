"""Settings from the environment (`NEWSGRAPH_*`), overridable by command-line flags.

| variable | meaning | default |
|---|---|---|
| `NEWSGRAPH_STORE` | a directory (the embedded store) or a `bolt://`, `bolt+s://`, `neo4j://`, `neo4j+s://` URI (Neo4j) | `./newsgraph-data` |
| `NEWSGRAPH_NEO4J_USER` | the Neo4j user | `neo4j` |
| `NEWSGRAPH_NEO4J_PASSWORD` | its password | none |
| `NEWSGRAPH_NEO4J_DATABASE` | the database | the server's default |
| `NEWSGRAPH_TOKENS` | API bearer tokens, comma-separated `role:name:token` entries (docs/auth.md) | none |
| `NEWSGRAPH_TOKENS_FILE` | a JSON file of token hashes outside the checkout (`newsgraph token create`) | none |
| `NEWSGRAPH_SUBMIT_RATE` | how often one client may call `submitSource`, e.g. `10/minute`, `100/hour` | `10/minute` |
"""  # noqa: E501

from __future__ import annotations

from pathlib import Path

import limits
from pydantic import SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.config import DEFAULT_SUBMIT_RATE

DEFAULT_STORE = "./newsgraph-data"
DEFAULT_NEO4J_USER = "neo4j"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NEWSGRAPH_", extra="ignore")

    store: str = DEFAULT_STORE
    neo4j_user: str = DEFAULT_NEO4J_USER
    neo4j_password: SecretStr | None = None  # a SecretStr: never printed, logged or repr'd
    neo4j_database: str | None = None
    # Plain tokens, for containers: hashed as soon as they are read (api.tokens.Tokens), never logged.
    tokens: SecretStr | None = None
    tokens_file: Path | None = None
    submit_rate: str = DEFAULT_SUBMIT_RATE

    @field_validator("submit_rate")
    @classmethod
    def _rate(cls, value: str) -> str:
        # Checked here so a typo stops `newsgraph serve` at start, not the first submission.
        try:
            one = len(limits.parse_many(value)) == 1
        except ValueError:
            one = False
        if not one:
            raise ValueError(
                f"{value!r} is not a rate; write one like 10/minute, 100/hour or 5 per second"
            )
        return value


class SettingsError(ValueError):
    """A `NEWSGRAPH_*` variable is not valid; the message names it."""


def load_settings() -> Settings:
    """The settings from the environment; a bad variable raises SettingsError naming it."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = "NEWSGRAPH_" + "_".join(str(part) for part in error["loc"]).upper()
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{name}: {message}")
        raise SettingsError("; ".join(problems)) from None
