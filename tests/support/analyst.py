"""A small, varied set of extractor records for the analysts' filters and aggregates: events
over four months with entities of every type in several roles (in mixed case), claims of every
tone, outlets of every tier (one unknown to the registry), retracted reports, several
countries and events without a place; the same for the same seed."""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ENTITIES = [
    ("Vladimir Putin", "person"),
    ("Volodymyr Zelensky", "person"),
    ("Alexander Lukashenko", "person"),
    ("NATO", "organization"),
    ("Wagner Group", "group"),
    ("Russia", "country"),
    ("Ukraine", "country"),
    ("Crimea", "place"),
    ("Grain deal", "other"),
]
ROLES = ["participant", "target", "Target", "party", "subject", "mentioned", None]
TONES = ["certain", "likely", "uncertain", "claimed", "denied"]
# names in the shared registry (tests.conftest.load_outlets), and one it does not know
OUTLETS = [
    "Reuters",
    "Associated Press",
    "TASS",
    "RIA Novosti",
    "BelTA",
    "Kyiv Independent",
    "Institute for the Study of War",
    "Daily Unknown Gazette",
]
LOCATIONS: list[dict[str, str] | None] = [
    {"place": "Kyiv", "country": "Ukraine"},
    {"place": "Moscow", "country": "Russia"},
    {"place": "Minsk", "country": "Belarus"},
    {"place": "Kharkiv", "country": "Ukraine"},
    {"country": "Syria"},
    None,
]
CATEGORIES = ["military", "diplomatic", "political", "humanitarian", "cyber"]


def records(count: int = 40, seed: int = 7) -> list[dict[str, Any]]:
    """`count` records, one event each (distinct `event.id`s)."""
    rng = random.Random(seed)
    found = []
    for number in range(count):
        day = date(2025, 1, 1) + timedelta(days=rng.randrange(120))
        entities = []
        for name, kind in rng.sample(ENTITIES, rng.randint(1, 4)):
            mention: dict[str, Any] = {"name": name, "type": kind}
            role = rng.choice(ROLES)
            if role is not None:
                mention["role"] = role
            entities.append(mention)
        reports = []
        for outlet in rng.sample(OUTLETS, rng.randint(1, 3)):
            claims = [
                {"text": f"claim {number}-{i} of {outlet}", "tone": rng.choice(TONES)}
                for i in range(rng.randint(0, 2))
            ]
            report: dict[str, Any] = {"outlet": outlet, "claims": claims}
            if rng.random() < 0.15:
                report["retracted"] = {"on": (day + timedelta(days=3)).isoformat()}
            reports.append(report)
        event: dict[str, Any] = {
            "id": f"analyst-{number}",
            "category": rng.choice(CATEGORIES),
            "summary": f"Event number {number} of the analysts' test set",
            "occurred_on": day.isoformat(),
            "entities": entities,
            "reports": reports,
        }
        location = rng.choice(LOCATIONS)
        if location is not None:
            event["location"] = location
        found.append(
            {
                "schema_version": 1,
                "extracted_at": f"2026-05-{1 + number % 28:02d}T10:00:00.000Z",
                "source_story": {"slug": f"analyst-story-{number}", "outlet": reports[0]["outlet"]},
                "event": event,
            }
        )
    return found


def write_records(path: Path, count: int = 40, seed: int = 7) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records(count, seed)), "utf-8")
    return path
