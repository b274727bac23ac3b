"""Display labels for the site: the categories', tones' and confidence levels' text in a
locale (`graph.labels`, the English text as data), falling back to English and saying so."""

from __future__ import annotations

import strawberry

from api.errors import UserError
from graph.labels import Found, labels_for

MAX_LOCALE = 35  # BCP 47 tags in practice


@strawberry.type(description="The text shown for one value of a vocabulary.")
class DisplayLabel:
    value: str = strawberry.field(description="The enum value it labels, e.g. MILITARY.")
    text: str
    explanation: str | None = strawberry.field(
        default=None, description="What it means (confidence levels)."
    )


@strawberry.type(description="Every display label in one locale.")
class DisplayLabels:
    locale: str = strawberry.field(description="The locale the labels are in.")
    requested_locale: str
    fell_back: bool = strawberry.field(
        description="True when there are no labels in the requested locale's language: "
        "English is shown (`message` says so)."
    )
    message: str | None
    categories: list[DisplayLabel]
    tones: list[DisplayLabel]
    levels: list[DisplayLabel]


def found(locale: str) -> Found:
    """The labels of `locale`, refusing a value too long to be one."""
    if len(locale) > MAX_LOCALE:
        raise UserError(f"locale is longer than {MAX_LOCALE} characters")
    return labels_for(locale)


@strawberry.type
class LabelsQuery:
    """The display labels' field of `Query`."""

    @strawberry.field(
        description="The display labels of categories, tones and confidence levels in "
        "`locale` (a BCP 47 tag such as en or fr-CA: its language's labels when that locale "
        "has none); an unknown locale shows English and says so (`fellBack`, `message`)."
    )
    def labels(self, locale: str = "en") -> DisplayLabels:
        shown = found(locale)
        data = shown.labels
        return DisplayLabels(
            locale=data.locale,
            requested_locale=locale,
            fell_back=shown.fell_back,
            message=shown.message,
            categories=[DisplayLabel(value=k.upper(), text=v) for k, v in data.categories.items()],
            tones=[DisplayLabel(value=k.upper(), text=v) for k, v in data.tones.items()],
            levels=[
                DisplayLabel(value=k.upper(), text=text, explanation=why)
                for k, (text, why) in data.levels.items()
            ],
        )
