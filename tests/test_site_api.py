"""The site's directory pages through GraphQL, on each store kind: entities, outlets, places and
stories, filtered, ordered, paged both ways, with their totals; a story by outlet and slug."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import EXTRACTOR, STORE_KINDS, fresh_store, shared_file
from tests.support.graphql import GraphQLClient
from tests.support.served import served


@pytest.fixture(scope="module", params=STORE_KINDS)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GraphQLClient]:
    """The app over a store holding the registry and the sample records."""
    store = fresh_store(request.param, tmp_path_factory.mktemp(f"site-{request.param}"))
    store.setup()
    try:
        yield from served(store, shared_file(EXTRACTOR / "samples.jsonl"))
    finally:
        store.close()


def _names(connection: dict[str, Any], field: str = "name") -> list[str]:
    return [edge["node"][field] for edge in connection["edges"]]


def _error(site: GraphQLClient, query: str) -> tuple[Any, str]:
    response = site.query(query)
    assert response.status_code == 200, response.text
    answer = response.json()
    return answer["data"], answer["errors"][0]["message"]


PAGE = "totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } "


def test_outlets_filtered_by_tier_and_country_with_their_total(site: GraphQLClient) -> None:
    data = site.data(
        "{ trusted: outlets(tier: TRUSTED) { totalCount edges { node { name tier } } } "
        '  russian: outlets(country: "RU", order: NAME_DESCENDING) { totalCount '
        "    edges { node { name } } } }"
    )
    assert _names(data["trusted"]) == ["Associated Press", "Reuters"]
    assert data["trusted"]["totalCount"] == 2
    assert _names(data["russian"]) == ["TASS", "RIA Novosti"]
    assert data["russian"]["totalCount"] == 2


def test_a_directory_pages_forward_and_backward_to_the_same_list(site: GraphQLClient) -> None:
    whole = site.data("{ outlets(first: 100) { " + PAGE + "edges { node { name } } } }")["outlets"]
    names = _names(whole)
    assert names == sorted(names) and len(names) == whole["totalCount"] >= 9
    forward: list[str] = []
    after = None
    while True:
        page = site.data(
            "query($after: String) { outlets(first: 4, after: $after) { "
            + PAGE
            + "edges { node { name } } } }",
            {"after": after},
        )["outlets"]
        forward += _names(page)
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert forward == names
    backward: list[str] = []
    before = None
    while True:
        page = site.data(
            "query($before: String) { outlets(last: 4, before: $before) { "
            + PAGE
            + "edges { node { name } } } }",
            {"before": before},
        )["outlets"]
        backward = _names(page) + backward
        assert page["pageInfo"]["hasNextPage"] is (before is not None)
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        before = page["pageInfo"]["startCursor"]
    assert backward == names


def test_entities_by_type(site: GraphQLClient) -> None:
    data = site.data(
        "{ people: entities(type: PERSON, first: 100) { totalCount edges { node { name type } } }"
        "  all: entities(first: 1) { totalCount } }"
    )
    people = data["people"]
    assert "Vladimir Putin" in _names(people)
    assert {e["node"]["type"] for e in people["edges"]} == {"PERSON"}
    assert people["totalCount"] == len(people["edges"]) < data["all"]["totalCount"]


def test_the_places_of_a_country(site: GraphQLClient) -> None:
    countries = site.data('{ places(kind: "country", first: 100) { edges { node { id name } } } }')
    by_name = {e["node"]["name"]: e["node"]["id"] for e in countries["places"]["edges"]}
    ukraine = by_name["Ukraine"]
    data = site.data(
        "query($c: ID) { places(country: $c, first: 100) { "
        "totalCount edges { node { name kind } } } }",
        {"c": ukraine},
    )["places"]
    assert "Moscow" in _names(data)  # as the sample record placed it
    assert {e["node"]["kind"] for e in data["edges"]} == {"place"}
    assert data["totalCount"] == len(data["edges"])
    answer, message = _error(site, '{ places(country: "pl_nope") { totalCount } }')
    assert answer is None
    assert message == "no country with id 'pl_nope'"


def test_an_outlets_stories_and_a_story_page_with_its_events(site: GraphQLClient) -> None:
    isw = site.data('{ outlet(name: "ISW") { id } }')["outlet"]["id"]
    stories = site.data(
        "query($o: ID) { stories(outlet: $o, first: 100) { totalCount "
        "edges { node { slug publishedOn outlet { name } } } } }",
        {"o": isw},
    )["stories"]
    dates = [e["node"]["publishedOn"] for e in stories["edges"]]
    assert dates == sorted(dates, reverse=True) and stories["totalCount"] == len(dates) >= 1
    assert {e["node"]["outlet"]["name"] for e in stories["edges"]} == {
        "Institute for the Study of War"
    }
    slug = stories["edges"][0]["node"]["slug"]
    story = site.data(
        "query($o: ID!, $s: String!) { story(outlet: $o, slug: $s) { "
        "slug events { id summary } } }",
        {"o": isw, "s": slug},
    )["story"]
    assert story["slug"] == slug and story["events"]
    answer, message = _error(site, f'{{ story(outlet: "{isw}", slug: "no-such") {{ slug }} }}')
    assert answer == {"story": None}
    assert message == f"no story 'no-such' of the outlet '{isw}'"
    _, message = _error(site, '{ stories(outlet: "ou_nope") { totalCount } }')
    assert message == "no outlet with id 'ou_nope'"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ("first: 2, last: 2", "give first (with after) or last (with before), not both"),
        ("last: 0", "last must be between 1 and 100, got 0"),
        ("first: 101", "first must be between 1 and 100, got 101"),
        ('after: "bm9wZQ=="', "after: 'bm9wZQ==' is not a cursor this API gave out"),
        ('last: 2, after: "x"', "after pages forward: use it with first, and before with last"),
        ('first: 2, before: "x"', "before pages backward: use it with last, and after with first"),
        ('country: "' + "x" * 101 + '"', "country is longer than 100 characters"),
    ],
)
def test_bad_paging_arguments_are_named(site: GraphQLClient, arguments: str, message: str) -> None:
    answer, said = _error(site, f"{{ outlets({arguments}) {{ totalCount }} }}")
    assert answer is None
    assert said == message


def test_a_cursor_of_another_order_is_refused(site: GraphQLClient) -> None:
    page = site.data("{ stories(first: 1, order: SLUG) { pageInfo { endCursor } } }")
    cursor = page["stories"]["pageInfo"]["endCursor"]
    _, message = _error(site, f'{{ stories(after: "{cursor}") {{ totalCount }} }}')
    assert message == "after: the cursor is from another order of the listing"


def test_event_listings_say_how_many_they_hold(site: GraphQLClient) -> None:
    data = site.data(
        "{ all: events(first: 100) { totalCount totalCountIsExact edges { cursor } }"
        "  diplomatic: events(first: 1, filter: {categories: [DIPLOMATIC]}) { totalCount } }"
    )
    assert data["all"]["totalCount"] == len(data["all"]["edges"]) >= 2
    assert data["all"]["totalCountIsExact"] is True
    assert 1 <= data["diplomatic"]["totalCount"] < data["all"]["totalCount"]


def test_feeds_in_level_order_and_of_exact_levels(site: GraphQLClient) -> None:
    page = "{ totalCount edges { cursor node { id confidence { level } } } }"
    data = site.data(
        "{ changed: events(order: LEVEL_CHANGED, first: 100) " + page + " all: events(first: 100) "
        "{ totalCount } verified: events(order: RECENTLY_VERIFIED, first: 100) " + page + " "
        "exact: events(filter: {confidence: [VERIFIED, DISPUTED]}, first: 100) " + page + " }"
    )
    # every sample event was rated when loaded: all are in the order of level changes
    assert data["changed"]["totalCount"] == data["all"]["totalCount"]
    assert len(data["changed"]["edges"]) == data["all"]["totalCount"]
    levels = {e["node"]["confidence"]["level"] for e in data["verified"]["edges"]}
    assert levels == {"VERIFIED"}  # the samples hold one verified and one disputed event
    exact = {e["node"]["confidence"]["level"] for e in data["exact"]["edges"]}
    assert exact == {"VERIFIED", "DISPUTED"}
    verified = [
        e["node"]["id"]
        for e in data["exact"]["edges"]
        if e["node"]["confidence"]["level"] == "VERIFIED"
    ]
    assert sorted(verified) == sorted(e["node"]["id"] for e in data["verified"]["edges"])
    first = site.data("{ events(order: LEVEL_CHANGED, first: 1) " + page + " }")["events"]
    cursor = first["edges"][0]["cursor"]
    second = site.data(
        f'{{ events(order: LEVEL_CHANGED, first: 1, after: "{cursor}") ' + page + " }"
    )["events"]
    assert second["edges"][0]["node"]["id"] == data["changed"]["edges"][1]["node"]["id"]
    dated = site.data("{ events(first: 1) { edges { cursor } } }")["events"]["edges"][0]["cursor"]
    _, message = _error(
        site, f'{{ events(order: LEVEL_CHANGED, after: "{dated}") {{ totalCount }} }}'
    )
    assert "is not a cursor this API gave out" in message


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ("filter: {confidence: []}", "filter.confidence must name at least one level"),
        (
            "order: RECENTLY_VERIFIED, filter: {confidence: [DISPUTED]}",
            "order RECENTLY_VERIFIED lists verified events: filter.confidence excludes them",
        ),
    ],
)
def test_bad_feed_arguments_are_named(site: GraphQLClient, arguments: str, message: str) -> None:
    _, said = _error(site, f"{{ events({arguments}) {{ totalCount }} }}")
    assert said == message


def test_display_labels_in_english_and_the_fallback_said(site: GraphQLClient) -> None:
    fields = "locale requestedLocale fellBack message categories { value text } " + (
        "levels { value text explanation }"
    )
    data = site.data(
        f'{{ en: labels {{ {fields} }} gb: labels(locale: "en-GB") {{ {fields} }} '
        f'fr: labels(locale: "fr-CA") {{ {fields} }} '
        f'odd: labels(locale: "../policy") {{ {fields} }} '
        "  events(first: 1, filter: {categories: [DIPLOMATIC]}) { edges { node { "
        '    categoryLabel(locale: "de") } } } }'
    )
    english = data["en"]
    assert english["fellBack"] is False and english["message"] is None
    assert {"value": "MILITARY", "text": "Military"} in english["categories"]
    verified = next(level for level in english["levels"] if level["value"] == "VERIFIED")
    assert verified["text"] == "Verified" and "trusted source" in verified["explanation"]
    assert data["gb"]["fellBack"] is False and data["gb"]["locale"] == "en"
    for other, asked in ((data["fr"], "fr-CA"), (data["odd"], "../policy")):
        assert other["fellBack"] is True and other["locale"] == "en"
        assert other["requestedLocale"] == asked
        assert other["message"] == f"no labels for the locale '{asked}': shown in English"
        assert other["categories"] == english["categories"]
    (edge,) = data["events"]["edges"]
    assert edge["node"]["categoryLabel"] == "Diplomacy"
    _, message = _error(site, '{ labels(locale: "' + "x" * 40 + '") { locale } }')
    assert message == "locale is longer than 35 characters"


def test_every_outlets_track_record_agrees_with_its_events(site: GraphQLClient) -> None:
    record = "reports corroborated soleSource disputed firstToReport retracted corroborationRate"
    outlets = site.data(
        "{ outlets(first: 100) { edges { node { id name trackRecord { " + record + " } } } } }"
    )["outlets"]["edges"]
    reported = 0
    for edge in outlets:
        outlet = edge["node"]
        track = outlet["trackRecord"]
        counts = site.data(
            "query($o: ID!) { all: events(filter: {outlet: $o}) { totalCount } "
            "disputed: events(filter: {outlet: $o, confidence: [DISPUTED]}) { totalCount } }",
            {"o": outlet["id"]},
        )
        assert track["reports"] == counts["all"]["totalCount"], outlet["name"]
        assert track["disputed"] == counts["disputed"]["totalCount"], outlet["name"]
        assert track["corroborated"] + track["soleSource"] + track["retracted"] == track["reports"]
        assert track["firstToReport"] <= track["reports"]
        reported += track["reports"]
    assert reported > 0
    isw = next(e["node"] for e in outlets if e["node"]["name"] == "Institute for the Study of War")
    assert isw["trackRecord"]["corroborated"] >= 1  # the seed event: several groups reported it
    assert 0 < isw["trackRecord"]["corroborationRate"] <= 1


def test_a_track_record_over_a_window_of_months(site: GraphQLClient) -> None:
    query = (
        'query($from: String, $to: String) { outlet(name: "ISW") { '
        "all: trackRecord { reports } "
        "window: trackRecord(fromMonth: $from, toMonth: $to) { reports corroborated } } }"
    )
    march = site.data(query, {"from": "2025-03", "to": "2025-03"})["outlet"]
    assert march["window"]["reports"] == march["all"]["reports"] > 0  # every sample is March 2025
    later = site.data(query, {"from": "2025-04"})["outlet"]
    assert later["window"] == {"reports": 0, "corroborated": 0}
    earlier = site.data(query, {"to": "2025-02"})["outlet"]
    assert earlier["window"]["reports"] == 0
    for variables, message in [
        ({"from": "2025-3"}, "fromMonth must be a month, YYYY-MM (got '2025-3')"),
        ({"to": "2025-13"}, "toMonth must be a month, YYYY-MM (got '2025-13')"),
        ({"from": "2025-04", "to": "2025-03"}, "fromMonth is after toMonth"),
    ]:
        answer = site.query(query, variables).json()
        assert answer["errors"][0]["message"] == message


def test_neighbours_say_how_many_links_in_all(site: GraphQLClient) -> None:
    isw = site.data('{ outlet(name: "ISW") { id } }')["outlet"]["id"]
    seen, after = 0, None
    while True:
        page = site.data(
            "query($id: ID!, $after: String) { node(id: $id) { neighbours(first: 2, after: "
            "$after) { totalCount edges { cursor } pageInfo { hasNextPage endCursor } } } }",
            {"id": isw, "after": after},
        )["node"]["neighbours"]
        seen += len(page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert page["totalCount"] == seen >= 2
