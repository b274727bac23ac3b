"""The display labels' data: every value of every vocabulary has its English text."""

from __future__ import annotations

from graph.labels import labels_for
from graph.model import CATEGORIES, LEVELS, TONES


def test_english_labels_cover_every_vocabulary() -> None:
    shown = labels_for("en")
    assert not shown.fell_back
    labels = shown.labels
    assert set(labels.categories) == set(CATEGORIES)
    assert set(labels.tones) == set(TONES)
    assert set(labels.levels) == set(LEVELS)
    assert all(labels.categories.values()) and all(labels.tones.values())
    assert all(text and why for text, why in labels.levels.values())


def test_a_locale_falls_back_to_its_language_then_to_english() -> None:
    assert labels_for("EN_us").labels.locale == "en"
    assert not labels_for("EN_us").fell_back
    missing = labels_for("pt-BR")
    assert missing.fell_back and missing.labels.locale == "en"
    assert missing.message == "no labels for the locale 'pt-BR': shown in English"
