"""The confidence policy applied to reports: levels, counts, explanations and hints."""

from __future__ import annotations

import pytest

from graph.confidence import Policy, Report, assess


def _r(outlet: str, tier: str = "standard", group: str | None = None, *tones: str) -> Report:
    return Report(outlet, tier, group or outlet, tuple(tones) or ("certain",))


@pytest.fixture
def policy() -> Policy:
    return Policy.default()


def test_one_source_is_unverified(policy: Policy) -> None:
    rating = assess([_r("a")], policy)
    assert (rating.level, rating.independent_sources, rating.next_level) == (
        "unverified",
        1,
        "likely",
    )
    assert rating.hint == "One more independent source could elevate it to likely."


def test_three_groups_none_trusted_is_likely_with_the_seed_hint(policy: Policy) -> None:
    rating = assess([_r("isw"), _r("kyiv"), _r("censor")], policy)
    assert (rating.level, rating.label) == ("likely", "Likely")
    assert (rating.independent_sources, rating.trusted_sources) == (3, 0)
    assert rating.explanation.startswith("Two or more independent sources agree on the core facts.")
    assert rating.hint == "One more trusted source could elevate it to verified."


def test_one_group_counts_once(policy: Policy) -> None:
    rating = assess(
        [_r("tass", "state-affiliated", "ru"), _r("ria", "state-affiliated", "ru")], policy
    )
    assert (rating.level, rating.independent_sources) == ("unverified", 1)


def test_trusted_source_verifies(policy: Policy) -> None:
    rating = assess([_r("isw"), _r("reuters", "trusted")], policy)
    assert (rating.level, rating.trusted_sources, rating.next_level) == ("verified", 1, None)


def test_a_lone_trusted_source_needs_one_more_independent(policy: Policy) -> None:
    rating = assess([_r("reuters", "trusted")], policy)
    assert rating.level == "unverified"
    assert (rating.needs_independent, rating.needs_trusted) == (1, 0)


def test_a_denial_disputes(policy: Policy) -> None:
    rating = assess([_r("up"), _r("tass", "state-affiliated", "ru", "certain", "denied")], policy)
    assert (rating.level, rating.rank, rating.next_level) == ("disputed", 0, None)


def test_policy_is_data(policy: Policy) -> None:
    stricter = policy.model_copy(
        update={
            "ladder": [
                r.model_copy(update={"min_trusted": 2}) if r.level == "verified" else r
                for r in policy.ladder
            ]
        }
    )
    reports = [_r("isw"), _r("reuters", "trusted")]
    assert assess(reports, stricter).level == "likely"
    assert assess(reports, stricter).hint == "One more trusted source could elevate it to verified."
    assert Policy.from_json(stricter.to_json()) == stricter


def test_levels_rank_for_filters(policy: Policy) -> None:
    assert [policy.rank(x) for x in ("disputed", "unverified", "likely", "verified")] == [
        0,
        1,
        2,
        3,
    ]
