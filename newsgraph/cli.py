"""The `newsgraph` command: serve the API, load records and the outlet registry."""

from __future__ import annotations

import functools
import os
import secrets
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO, cast

import click
from pydantic import ValidationError
from tqdm import tqdm

from api.tokens import (
    Role,
    TokenConfigError,
    TokenEntry,
    read_token_file,
    token_hash,
    write_token_file,
)
from graph.confidence import current_policy
from graph.model import CATEGORIES, ENTITY_TYPES, LEVELS, TIERS, TONES
from graph.store import EventFilter, GraphStore, StoreError
from loaders.jsonl import RejectSink
from loaders.outlets import RegistryError, parse_registry
from newsgraph.settings import SettingsError, load_settings
from newsgraph.wiring import app_arguments, make_store, reads_only
from services.export import FORMATS, export
from services.load import DEFAULT_BATCH, LoadSummary, load_streams
from services.registry import load_registry
from services.selection import find_entity

EXIT_REJECTS = 3
# The roles of `token create --role`.
ROLES = tuple(role.value for role in Role)

store_option = click.option(
    "--store",
    "store_spec",
    default=None,
    metavar="PATH|URI",
    help="A data directory (the embedded store) or a bolt:// / neo4j:// URI (Neo4j, with "
    "NEWSGRAPH_NEO4J_USER/PASSWORD/DATABASE) [env NEWSGRAPH_STORE; default ./newsgraph-data].",
)


def _store(spec: str | None, read_only: bool = False) -> GraphStore:
    try:
        spec = spec or load_settings().store
        store = reads_only(spec) if read_only else None
        return store if store is not None else make_store(spec)
    except (StoreError, SettingsError) as exc:
        raise click.ClickException(str(exc)) from None


@contextmanager
def _opened(spec: str | None, read_only: bool = False) -> Iterator[GraphStore]:
    """The store `spec` names, open; `read_only` for commands that only read (the embedded
    store is then opened as a reader: it runs beside a server and a load)."""
    store = _store(spec, read_only)
    try:
        store.setup()
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        yield store
    finally:
        store.close()


@click.group(help=__doc__)
def main() -> None:
    pass


@main.command()
@store_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--no-samples", is_flag=True, help="Leave an empty store empty.")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Reader processes serving the port, each with the graph in its own memory; on the "
    "embedded store one more process takes every write.",
)
def serve(store_spec: str | None, host: str, port: int, no_samples: bool, workers: int) -> None:
    """Serve GraphQL at http://HOST:PORT/graphql (loads bundled samples into an empty store).

    The store stays open to other commands meanwhile: `newsgraph load` writes beside the
    server and the workers show each batch once it commits (docs/changes.md)."""
    from newsgraph import serving

    def load_samples_if_empty(store: GraphStore) -> None:
        if no_samples or any(store.counts().values()):
            return
        summary = load_bundled_samples(store)
        click.echo(f"empty store: loaded the bundled samples ({summary.loaded} records)", err=True)

    try:
        settings = load_settings()
        app_arguments(settings)  # bad settings stop the command here, naming the variable
        spec = store_spec or settings.store
        make_store(spec, settings)
    except (SettingsError, TokenConfigError, StoreError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"newsgraph: GraphQL at http://{host}:{port}/graphql ({workers} worker(s), store {spec})",
        err=True,
    )
    try:
        serving.serve(spec, host, port, workers, load_samples_if_empty)
    except (StoreError, OSError) as exc:
        raise click.ClickException(str(exc)) from None


def load_bundled_samples(store: GraphStore) -> LoadSummary:
    """Load the sample registry and records shipped in `loaders/sample_data`."""
    data = resources.files("loaders").joinpath("sample_data")
    load_registry(store, parse_registry(data.joinpath("outlets.json").read_text("utf-8")))
    with data.joinpath("samples.jsonl").open("rb") as stream:
        return load_streams(store, [("samples.jsonl", cast(BinaryIO, stream))], RejectSink(None))


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True, dir_okay=False))
@store_option
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("newsgraph-rejects.jsonl"),
    show_default=True,
    help="Where rejected lines go, each with its file, line number, reason and text.",
)
@click.option(
    "--batch-size", default=DEFAULT_BATCH, show_default=True, type=click.IntRange(1, 100_000)
)
@click.option(
    "--niceness",
    type=click.IntRange(0, 19),
    default=None,
    help="Run at this niceness (as nice -n): the load yields the CPU to a server's pages and "
    "takes it all when nothing else wants it; 0 for none [env NEWSGRAPH_LOAD_NICENESS; "
    "default 5].",
)
def load(
    files: tuple[str, ...],
    store_spec: str | None,
    rejects: Path,
    batch_size: int,
    niceness: int | None,
) -> None:
    """Load extractor records (JSON Lines; - for stdin). Exit status 3 if any line was rejected."""
    for name in files:
        if name != "-" and not Path(name).is_file():
            raise click.BadParameter(f"no such file: {name}", param_hint="FILES")
    _yield_cpu(niceness)
    sink = RejectSink(rejects)
    with _opened(store_spec) as store, ExitStack() as stack:
        total = sum(Path(f).stat().st_size for f in files if f != "-") if "-" not in files else None
        bar = stack.enter_context(
            tqdm(total=total, unit="B", unit_scale=True, desc="loading", disable=None)
        )
        streams: list[tuple[str, BinaryIO]] = []
        for name in files:
            stream = sys.stdin.buffer if name == "-" else stack.enter_context(open(name, "rb"))
            streams.append((name, stream))
        try:
            summary = load_streams(store, streams, sink, batch_size, progress=bar.update)  # type: ignore[arg-type]
        except KeyboardInterrupt:
            click.echo(
                "interrupted: every batch before this point is stored; run the same "
                "command again to complete the load (it is idempotent)",
                err=True,
            )
            sys.exit(130)
        finally:
            sink.close()
    for line in summary.lines():
        click.echo(line)
    if summary.rejected:
        click.echo(f"rejected lines and why: {rejects}")
        sys.exit(EXIT_REJECTS)


def _yield_cpu(niceness: int | None) -> None:
    """Run this process at `niceness` (the setting's when None) unless it runs at a higher one
    already (`nice -n 10 newsgraph load` stays at 10). Before any thread starts: Linux sets a
    niceness per thread, and threads started later inherit it."""
    if niceness is None:
        try:
            niceness = load_settings().load_niceness
        except SettingsError as exc:
            raise click.UsageError(str(exc)) from None
    if niceness > os.getpriority(os.PRIO_PROCESS, 0):
        os.setpriority(os.PRIO_PROCESS, 0, niceness)


@main.group()
def outlets() -> None:
    """The outlet registry."""


@outlets.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@store_option
def outlets_load(file: Path, store_spec: str | None) -> None:
    """Load an outlet registry (outlets.json): tiers, independence groups, aliases."""
    try:
        registry = parse_registry(file.read_text(encoding="utf-8"))
    except (RegistryError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{file}: {exc}") from None
    with _opened(store_spec) as store:
        summary = load_registry(store, registry)
    click.echo(f"outlets created: {summary.created}")
    click.echo(f"outlets updated: {summary.updated}")
    click.echo(f"events re-rated: {summary.events_rerated}")
    for merge in summary.merged:
        click.echo(f"outlets merged: {merge}")


@main.command()
@store_option
def stats(store_spec: str | None) -> None:
    """Count the nodes and relationships in the store."""
    with _opened(store_spec, read_only=True) as store:
        for name, count in store.counts().items():
            click.echo(f"{name:12} {count}")


@main.command()
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
def schema(output: Path | None) -> None:
    """Print the GraphQL SDL, or write it to --output (api/schema.graphql is kept current)."""
    from api.schema import schema as graphql_schema

    text = graphql_schema.as_str() + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


@main.command("copy")
@click.option("--from", "source_spec", required=True, metavar="STORE", help="A directory or URI.")
@click.option("--to", "target_spec", required=True, metavar="STORE", help="An empty store.")
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(1, 100_000))
def copy(source_spec: str, target_spec: str, batch_size: int) -> None:
    """Copy a whole graph into an empty store (nodes, relationships, keys, settings), then
    check both have the same counts and content hash. Credentials come from NEWSGRAPH_NEO4J_*."""
    from services.copy import copy_graph

    with _opened(source_spec, read_only=True) as source, _opened(target_spec) as target:
        try:
            summary = copy_graph(source, target, batch_size)
        except StoreError as exc:
            raise click.ClickException(str(exc)) from None
    for line in summary.lines():
        click.echo(line)


@main.group()
def token() -> None:
    """API bearer tokens, kept as hashes in a file outside the checkout (docs/auth.md)."""


tokens_file_option = click.option(
    "--file",
    "file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The tokens file, outside the checkout [env NEWSGRAPH_TOKENS_FILE].",
)


def _tokens_file(file: Path | None) -> Path:
    try:
        path = file or load_settings().tokens_file
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    if path is None:
        raise click.UsageError("give --file PATH or set NEWSGRAPH_TOKENS_FILE")
    return path


def _token_entries(path: Path) -> list[TokenEntry]:
    try:
        return read_token_file(path)
    except TokenConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _git_checkout(path: Path) -> Path | None:
    """The git working tree `path` would be in, if any."""
    for folder in path.resolve().parents:
        if (folder / ".git").exists():
            return folder
    return None


@token.command("create")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--name", required=True, help="Who holds it; history and audit records say so.")
@tokens_file_option
def token_create(role: str, name: str, file: Path | None) -> None:
    """Make a token and add its hash to the tokens file; print the token once, on stdout."""
    path = _tokens_file(file)
    checkout = _git_checkout(path)
    if checkout is not None:
        raise click.ClickException(
            f"{path} is inside the git checkout {checkout}; keep the tokens file outside it "
            "(for example ~/.config/newsgraph/tokens.json)"
        )
    entries = _token_entries(path) if path.exists() else []
    if any(entry.name == name for entry in entries):
        raise click.ClickException(
            f"{path}: there is a token named {name!r} already; "
            f"`newsgraph token revoke --name {name}` first to replace it"
        )
    secret = secrets.token_urlsafe(32)  # 256 random bits
    try:
        entry = TokenEntry(name=name, role=Role(role), sha256=token_hash(secret))
    except ValidationError as exc:
        message = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise click.BadParameter(message, param_hint="--name") from None
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_token_file(path, [*entries, entry])
    click.echo(secret)
    click.echo(
        f"the token of {name} ({role}) is above, on stdout: copy it now. It is not stored "
        f"anywhere; {path} keeps only its hash.",
        err=True,
    )


@token.command("list")
@tokens_file_option
def token_list(file: Path | None) -> None:
    """Print the name and role of each token in the tokens file."""
    path = _tokens_file(file)
    if not path.exists():
        raise click.ClickException(f"no tokens file at {path}")
    entries = _token_entries(path)
    width = max((len(entry.name) for entry in entries), default=0)
    for entry in entries:
        click.echo(f"{entry.name:{width}}  {entry.role}")
    if not entries:
        click.echo(f"no tokens in {path}", err=True)


@token.command("revoke")
@click.option("--name", required=True)
@tokens_file_option
def token_revoke(name: str, file: Path | None) -> None:
    """Remove a token from the tokens file (a running server stops taking it within a second,
    and closes the WebSockets opened with it)."""
    path = _tokens_file(file)
    if not path.exists():
        raise click.ClickException(f"no tokens file at {path}")
    entries = _token_entries(path)
    kept = [entry for entry in entries if entry.name != name]
    if len(kept) == len(entries):
        raise click.ClickException(f"{path}: no token named {name!r}")
    write_token_file(path, kept)
    click.echo(
        f"revoked the token of {name}; a server reading {path} refuses it within a second "
        "and closes the WebSockets opened with it",
        err=True,
    )


@main.command("export")
@store_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File to write [default: standard output].",
)
@click.option("--from", "date_from", type=click.DateTime(["%Y-%m-%d"]), default=None)
@click.option("--to", "date_to", type=click.DateTime(["%Y-%m-%d"]), default=None)
@click.option("--entity", default=None, help="Only events involving it (name, alias or id).")
@click.option("--category", "categories", multiple=True, type=click.Choice(CATEGORIES))
@click.option("--min-confidence", type=click.Choice(LEVELS), default=None)
@click.option("--role", "roles", multiple=True, help="An involvement in it (of --entity if given).")
@click.option("--entity-type", "entity_types", multiple=True, type=click.Choice(ENTITY_TYPES))
@click.option("--tone", "tones", multiple=True, type=click.Choice(TONES))
@click.option("--tier", "tiers", multiple=True, type=click.Choice(TIERS))
@click.option("--group", "groups", multiple=True, help="An outlet independence group.")
def export_command(
    store_spec: str | None,
    fmt: str,
    output: Path | None,
    date_from: Any,
    date_to: Any,
    entity: str | None,
    categories: tuple[str, ...],
    min_confidence: str | None,
    roles: tuple[str, ...],
    entity_types: tuple[str, ...],
    tones: tuple[str, ...],
    tiers: tuple[str, ...],
    groups: tuple[str, ...],
) -> None:
    """Write the graph, or the events the filters select with everything around them, as
    GraphML, GEXF, Cytoscape.js JSON, extractor records (JSONL, for `newsgraph load`) or
    GeoJSON (the events with coordinates, for a map)."""
    with _opened(store_spec, read_only=True) as store:
        try:
            flt = EventFilter(
                date_from=date_from.date().isoformat() if date_from else None,
                date_to=date_to.date().isoformat() if date_to else None,
                entity=find_entity(store, entity) if entity else None,
                categories=categories,
                min_confidence=(
                    current_policy(store).rank(min_confidence) if min_confidence else None
                ),
                roles=tuple(sorted({r.strip().lower() for r in roles if r.strip()})),
                entity_types=tuple(sorted(set(entity_types))),
                tones=tuple(sorted(set(tones))),
                tiers=tuple(sorted(set(tiers))),
                groups=tuple(sorted(set(groups))),
            )
        except LookupError as exc:
            raise click.ClickException(str(exc)) from None
        report = lambda line: click.echo(line, err=True)  # noqa: E731
        if output is None:
            export(store, fmt, sys.stdout.buffer, flt, report)
        else:
            output.parent.mkdir(parents=True, exist_ok=True)
            with output.open("wb") as out:
                chosen = export(store, fmt, out, flt, report)
            click.echo(
                f"{output}: {len(chosen.nodes)} nodes, {len(chosen.edges)} relationships",
                err=True,
            )


# Analysts (issue 5): `newsgraph timeline`, defined beside its code.
from newsgraph import timeline_png as _timeline_png  # noqa: E402

main.add_command(_timeline_png.command(store_option, functools.partial(_opened, read_only=True)))
