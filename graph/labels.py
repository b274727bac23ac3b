"""Display labels of the vocabularies (categories, tones, confidence levels), per locale, as
data: `labels.<locale>.json` beside this module (`labels.en.json`, the English text). Adding a
language is adding a file; a label missing from it, or a locale without a file, shows English.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from graph.model import CATEGORIES, LEVELS, TONES

ENGLISH = "en"
_LOCALE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")


@dataclass(frozen=True, slots=True)
class Labels:
    """The labels shown for one locale: `locale` is the one whose file they come from."""

    locale: str
    categories: dict[str, str]
    tones: dict[str, str]
    levels: dict[str, tuple[str, str]]  # level -> (label, explanation)


@dataclass(frozen=True, slots=True)
class Found:
    """The labels for a requested locale; `fell_back` when they are not in its language."""

    labels: Labels
    requested: str
    fell_back: bool

    @property
    def message(self) -> str | None:
        if not self.fell_back:
            return None
        return f"no labels for the locale '{self.requested}': shown in English"


def _read(locale: str) -> dict[str, Any] | None:
    file = resources.files("graph").joinpath(f"labels.{locale}.json")
    if not file.is_file():
        return None
    data: dict[str, Any] = json.loads(file.read_text(encoding="utf-8"))
    return data


@cache
def _labels(locale: str) -> Labels | None:
    data = _read(locale)
    if data is None:
        return None
    english = _read(ENGLISH) if locale != ENGLISH else data
    assert english is not None, "labels.en.json is part of the package"

    def pick(part: str, name: str) -> Any:
        return (data.get(part) or {}).get(name) or english[part][name]

    return Labels(
        locale=locale,
        categories={c: str(pick("categories", c)) for c in CATEGORIES},
        tones={t: str(pick("tones", t)) for t in TONES},
        levels={
            lv: (str(pick("levels", lv)["label"]), str(pick("levels", lv)["explanation"]))
            for lv in LEVELS
        },
    )


def labels_for(locale: str) -> Found:
    """The labels of `locale` (`fr-CA`, `fr_CA`: then of its language, `fr`), else English."""
    if _LOCALE.match(locale):
        parts = re.split("[-_]", locale)
        for candidate in ("-".join(parts), parts[0].lower()):
            found = _labels(candidate)
            if found is not None:
                return Found(found, locale, fell_back=False)
    english = _labels(ENGLISH)
    assert english is not None
    return Found(english, locale, fell_back=locale.lower() != ENGLISH)
