"""The Atom feeds of newly verified and disputed events, on each store kind."""

from __future__ import annotations

from collections.abc import Iterator
from xml.etree import ElementTree

import httpx
import pytest

from api.app import create_app
from graph.model import Label, NodeWrite, PropertyWrite, WriteBatch
from graph.store import GraphStore
from tests.conftest import EXTRACTOR, load_file, load_outlets, shared_file
from tests.support.graphql import GraphQLClient

NS = {"atom": "http://www.w3.org/2005/Atom"}


class Client(GraphQLClient):
    def fetch(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return self._runner.run(self._http.get(path, headers=headers))


@pytest.fixture
def site(store: GraphStore) -> Iterator[Client]:
    load_outlets(store)
    load_file(store, shared_file(EXTRACTOR / "samples.jsonl"))
    client = Client(create_app(store))
    try:
        yield client
    finally:
        client.close()


def _entries(response: httpx.Response) -> list[ElementTree.Element]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/atom+xml")
    root = ElementTree.fromstring(response.content)
    assert root.tag == "{http://www.w3.org/2005/Atom}feed"
    assert root.find("atom:updated", NS) is not None
    return root.findall("atom:entry", NS)


def test_the_feeds_list_the_events_of_their_level(site: Client) -> None:
    for level in ("verified", "disputed"):
        listed = site.data(
            f"{{ events(filter: {{confidence: [{level.upper()}]}}) "
            "{ edges { node { summary } } } }"
        )["events"]["edges"]
        entries = _entries(site.fetch(f"/feeds/{level}.atom"))
        titles = [e.findtext("atom:title", default="", namespaces=NS) for e in entries]
        assert sorted(titles) == sorted(e["node"]["summary"] for e in listed)
        assert len(titles) == 1  # the samples hold one event of each
        assert all(e.findtext("atom:updated", namespaces=NS) for e in entries)


def test_a_feed_is_revalidated_until_a_write(site: Client, store: GraphStore) -> None:
    first = site.fetch("/feeds/verified.atom")
    tag = first.headers["etag"]
    assert site.fetch("/feeds/verified.atom", {"If-None-Match": tag}).status_code == 304
    outlet = PropertyWrite(set={"name": "Zeta Wire", "tier": "unknown"})
    store.write(WriteBatch(nodes=[NodeWrite("ou_zeta", Label.OUTLET, outlet)]))
    again = site.fetch("/feeds/verified.atom", {"If-None-Match": tag})
    assert again.status_code == 200
    assert again.headers["etag"] != tag


def test_a_feed_takes_if_none_match_as_graphql_gets_do(site: Client) -> None:
    # One rule for every answer with validators (api.conditional): a list of tags, `*`, and
    # weak comparison, as the GraphQL GETs of api.delivery.
    tag = site.fetch("/feeds/disputed.atom").headers["etag"]
    for asked in (f'"other", {tag}', "*", tag.removeprefix("W/")):
        answer = site.fetch("/feeds/disputed.atom", {"If-None-Match": asked})
        assert answer.status_code == 304, asked
        assert answer.headers["etag"] == tag
    other = site.fetch("/feeds/disputed.atom", {"If-None-Match": '"other", W/"0-disputed"'})
    assert other.status_code == 200


def test_an_unknown_feed_is_not_found(site: Client) -> None:
    answer = site.fetch("/feeds/likely.atom")
    assert answer.status_code == 404
    assert "verified, disputed" in answer.text
