"""Realistic extractor records (version 1) as JSON Lines, the same for the same seed.

    python -m bench.generate --events 100000 --seed 1 --output /tmp/records.jsonl

writes the records and, beside them, the matching outlet registry (`outlets.json`, or the file
`--registry` names). What the records look like:

- entity popularity is Zipf-like (Zipf-Mandelbrot, s=1, q=10): a few actors (the first ranks
  are real heads of state: Putin, Zelensky, ...) are in thousands of events, most in a handful;
- every event has 1-8 reporting outlets drawn (Zipf-like) from a few hundred outlets, about 80%
  of them in the registry with a tier and an independence group (state media and syndicated
  outlets share groups), the rest unknown to it;
- a third of the events arrive in two to five records (the merge path): other stories, other
  outlets, the summary reworded, the same participants, date and category, the names spelled
  another way ('Putin' / 'Vladimir Putin' / 'Russian President Vladimir Putin'), and the
  extractor's `event.id` when the event has one (about 40% do);
- nine categories, dates over three years (2023-2025), some as timestamps;
- lines ordered by extraction time, as the extractor writes them.

The generator keeps the events it means apart apart: no two of its events share an identity
fingerprint (see docs/identity.md), so N events load as N event nodes.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import IO, Any

if __package__ in (None, ""):  # run as a file: python bench/generate.py
    sys.path.insert(0, str(Path(__file__).absolute().parents[1]))

from graph.keys import normalise

START = date(2023, 1, 1)
DAYS = 3 * 365 + 1  # 2023-01-01 .. 2025-12-31

CATEGORIES = [
    ("military", 26),
    ("diplomatic", 20),
    ("political", 18),
    ("economic", 10),
    ("humanitarian", 9),
    ("infrastructure", 6),
    ("legal", 5),
    ("cyber", 4),
    ("other", 2),
]
TONES = [("certain", 56), ("likely", 15), ("uncertain", 8), ("claimed", 20), ("denied", 1)]
OUTLETS_PER_EVENT = [30, 24, 16, 11, 8, 5, 4, 2]  # weights of 1..8 reports
CLAIMS_PER_REPORT = [15, 50, 25, 10]  # weights of 0..3 claims
EXTRA_RECORDS = [(1, 60), (2, 25), (3, 10), (4, 5)]  # records beyond the first, merge path

# The most popular actors, with the spellings the extractor produces for them.
FAMOUS: list[tuple[str, str, list[str]]] = [
    ("person", "Vladimir Putin", ["Putin", "Russian President Vladimir Putin", "V. Putin"]),
    ("person", "Volodymyr Zelensky", ["Zelensky", "Zelenskyy", "President Volodymyr Zelenskyy"]),
    ("person", "Donald Trump", ["Trump", "U.S. President Donald Trump"]),
    ("person", "Alexander Lukashenko", ["Lukashenko", "Aleksandr Lukashenko"]),
    ("person", "Xi Jinping", ["Xi", "Chinese President Xi Jinping"]),
    ("person", "Emmanuel Macron", ["Macron", "French President Emmanuel Macron"]),
    ("person", "Recep Tayyip Erdoğan", ["Erdogan", "Recep Tayyip Erdogan", "Erdoğan"]),
    ("organization", "North Atlantic Treaty Organization", ["NATO", "the Alliance"]),
    ("organization", "European Union", ["EU", "the EU"]),
    ("organization", "United Nations", ["UN", "the U.N."]),
    ("person", "Sergei Lavrov", ["Lavrov", "Foreign Minister Sergei Lavrov"]),
    ("person", "Steve Witkoff", ["Witkoff", "envoy Steve Witkoff"]),
]
COUNTRIES: list[tuple[str, list[str]]] = [
    ("Russia", ["Russian Federation"]),
    ("Ukraine", []),
    ("United States", ["USA", "U.S."]),
    ("Belarus", ["Republic of Belarus"]),
    ("China", ["PRC"]),
    ("France", []),
    ("Germany", ["FRG"]),
    ("United Kingdom", ["UK", "Britain"]),
    ("Poland", []),
    ("Turkey", ["Türkiye"]),
    ("Iran", []),
    ("Israel", []),
    ("India", []),
    ("Japan", []),
    ("Brazil", []),
    ("South Africa", []),
    ("Moldova", []),
    ("Georgia", []),
    ("Kazakhstan", []),
    ("Hungary", []),
    ("Romania", []),
    ("Finland", []),
    ("Sweden", []),
    ("Estonia", []),
    ("Latvia", []),
    ("Lithuania", []),
    ("Italy", []),
    ("Spain", []),
    ("Egypt", []),
    ("Saudi Arabia", ["KSA"]),
    ("Qatar", []),
    ("Syria", []),
    ("Armenia", []),
    ("Azerbaijan", []),
    ("Serbia", []),
    ("Slovakia", []),
    ("Czechia", ["Czech Republic"]),
    ("Norway", []),
    ("Canada", []),
    ("Mexico", []),
    ("Nigeria", []),
    ("Ethiopia", []),
    ("Indonesia", []),
    ("Vietnam", ["Viet Nam"]),
    ("South Korea", ["Republic of Korea"]),
    ("North Korea", ["DPRK"]),
    ("Pakistan", []),
    ("Australia", []),
]
FIRST_NAMES = [
    "Anna",
    "Boris",
    "Carla",
    "Dmitri",
    "Elena",
    "Farid",
    "Greta",
    "Hassan",
    "Irina",
    "Jonas",
    "Katya",
    "Luis",
    "Maria",
    "Nikolai",
    "Olga",
    "Pavel",
    "Rosa",
    "Sergei",
    "Tamara",
    "Umar",
    "Vera",
    "Walter",
    "Yulia",
    "Zoran",
    "Adam",
    "Beata",
    "Cyril",
    "Dana",
    "Emil",
    "Fatima",
    "Gleb",
    "Hanna",
    "Igor",
    "Jana",
    "Karim",
    "Lena",
    "Mikhail",
    "Nadia",
    "Oskar",
    "Petra",
    "Ruslan",
    "Sofia",
    "Taras",
    "Ulla",
    "Viktor",
    "Wanda",
    "Yaroslav",
    "Zofia",
    "Andriy",
    "Bogdan",
    "Chen",
    "Daria",
    "Erik",
    "Fiona",
    "Goran",
    "Helga",
    "Ivan",
    "Jin",
    "Kamala",
    "Leila",
    "Marek",
    "Nina",
    "Omar",
    "Polina",
    "Rafael",
    "Sven",
    "Tatiana",
    "Ursula",
    "Vadim",
    "Wei",
    "Xenia",
    "Yusuf",
    "Zara",
    "Aleksei",
    "Bianca",
    "Denys",
    "Ewa",
    "Filip",
    "Gulnara",
    "Hugo",
    "Inga",
    "Jakub",
    "Kirill",
    "Lidia",
    "Maksym",
    "Natalia",
    "Oleg",
    "Pilar",
    "Roman",
    "Selin",
]
SYLLABLES_A = [
    "Ka",
    "Ve",
    "Lo",
    "Mar",
    "Dro",
    "Sha",
    "Ti",
    "Bel",
    "Gor",
    "Nes",
    "Pra",
    "Ko",
    "Zu",
    "Ha",
    "Ry",
    "Sto",
    "Vla",
    "Kru",
    "Mo",
    "De",
    "Fa",
    "Gri",
]
SYLLABLES_B = [
    "ra",
    "li",
    "no",
    "ve",
    "sa",
    "ta",
    "ri",
    "mo",
    "de",
    "ku",
    "lan",
    "ber",
    "zin",
    "go",
    "pe",
] + [""]
SYLLABLES_C = [
    "ov",
    "enko",
    "ski",
    "son",
    "ez",
    "i",
    "ard",
    "er",
    "an",
    "ic",
    "ova",
    "escu",
    "yan",
    "idze",
    "ek",
    "berg",
]
TITLES = [
    "President",
    "Prime Minister",
    "Foreign Minister",
    "Defence Minister",
    "General",
    "Senator",
    "Ambassador",
    "Governor",
    "Mayor",
    "Envoy",
    "Commander",
    "Spokesperson",
]
ORG_ADJ = [
    "National",
    "Federal",
    "Central",
    "Eastern",
    "Western",
    "Northern",
    "Southern",
    "Joint",
    "United",
    "Regional",
    "Baltic",
    "Black-Sea",
    "Atlantic",
    "Pacific",
    "Continental",
    "International",
    "Independent",
    "Civic",
    "Strategic",
]
ORG_NOUN = [
    "Energy",
    "Defence",
    "Security",
    "Grain",
    "Nuclear",
    "Transport",
    "Trade",
    "Finance",
    "Health",
    "Water",
    "Media",
    "Rail",
    "Aviation",
    "Shipping",
    "Mining",
    "Steel",
    "Telecom",
    "Border",
    "Customs",
    "Election",
    "Research",
    "Relief",
    "Justice",
]
ORG_KIND = [
    "Agency",
    "Council",
    "Commission",
    "Ministry",
    "Bank",
    "Corporation",
    "Authority",
    "Alliance",
    "Fund",
    "Institute",
    "Committee",
    "Service",
    "Directorate",
    "Union",
    "Company",
]
GROUP_KIND = [
    "Brigade",
    "Battalion",
    "Movement",
    "Front",
    "Legion",
    "Militia",
    "Network",
    "Coalition",
]
OTHER_KIND = [
    "Pipeline",
    "Bridge",
    "Dam",
    "Treaty",
    "Accord",
    "Programme",
    "Operation",
    "Summit",
    "Corridor",
]
PLACE_END = [
    "grad",
    "burg",
    "polis",
    "sk",
    "ovo",
    "ino",
    "port",
    "field",
    "haven",
    "stadt",
    "dorf",
    "ville",
    "abad",
]
OUTLET_PREFIX = [
    "Kyiv",
    "Moscow",
    "Baltic",
    "Atlantic",
    "Eastern",
    "Global",
    "Daily",
    "Free",
    "Open",
    "Evening",
    "Morning",
    "Capital",
    "Metro",
    "National",
    "Continental",
    "Frontline",
    "Independent",
    "Public",
    "Central",
    "Northern",
    "Southern",
    "Western",
    "Civic",
    "Pacific",
    "Danube",
    "Volga",
    "Dnipro",
    "Caspian",
    "Nordic",
    "Alpine",
    "Balkan",
    "Levant",
    "Steppe",
    "Harbor",
    "Border",
    "Union",
]
OUTLET_NOUN = [
    "Times",
    "Post",
    "Herald",
    "Observer",
    "Gazette",
    "Tribune",
    "Wire",
    "News",
    "Telegraph",
    "Courier",
    "Monitor",
    "Journal",
    "Review",
    "Chronicle",
    "Dispatch",
    "Insider",
    "Today",
    "Bulletin",
    "Report",
    "Voice",
    "Express",
    "Sentinel",
    "Digest",
]
OUTLET_KINDS = ["news", "news", "news", "wire", "news agency", "broadcaster", "think-tank", "blog"]
TOPICS = [
    "security guarantees",
    "grain exports",
    "a prisoner exchange",
    "energy supplies",
    "sanctions relief",
    "air defence deliveries",
    "a ceasefire proposal",
    "border demarcation",
    "nuclear safety",
    "gas transit",
    "reconstruction funding",
    "a trade agreement",
    "visa rules",
    "election monitoring",
    "cyber defence",
    "humanitarian corridors",
    "debt restructuring",
    "rail links",
    "port access",
    "military cooperation",
    "a peace framework",
    "refugee returns",
    "water rights",
    "mining licences",
    "food security",
    "troop withdrawals",
    "drone production",
    "ammunition supplies",
    "customs checks",
    "a pipeline route",
]
MILITARY = [
    "shelled",
    "advanced near",
    "struck a depot in",
    "repelled an assault on",
    "shot down drones over",
    "withdrew from",
    "reinforced positions around",
    "launched missiles at",
    "mined the approaches to",
]
CYRILLIC = str.maketrans(
    "abvgdeziklmnoprstufhABVGDEZIKLMNOPRSTUFH", "абвгдезиклмнопрстуфхАБВГДЕЗИКЛМНОПРСТУФХ"
)


def _zipf_weights(count: int, s: float = 1.0, q: float = 10.0) -> list[float]:
    """Cumulative Zipf-Mandelbrot weights of ranks 1..count."""
    return list(accumulate(1.0 / (rank + q) ** s for rank in range(1, count + 1)))


def _weighted(rng: random.Random, pairs: Sequence[tuple[Any, int]]) -> Any:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


@dataclass
class Entity:
    type: str
    name: str
    variants: list[str]  # other spellings; every record names the entity by one of them


@dataclass
class Outlet:
    name: str
    aliases: list[str]
    tier: str
    group: str | None
    country: str
    kind: str
    registered: bool
    domain: str


@dataclass
class Place:
    name: str
    country: str
    lat: float
    lon: float


@dataclass
class World:
    entities: list[Entity]
    entity_weights: list[float]
    countries: dict[str, Entity]
    outlets: list[Outlet]
    outlet_weights: list[float]
    places: list[Place]
    place_weights: list[float]
    used_keys: set[str] = field(default_factory=set)


class _Names:
    """Unique spellings: no two things of one kind share a normalised name or alias."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def free(self, *names: str) -> bool:
        return all(normalise(n) not in self.taken for n in names)

    def take(self, *names: str) -> None:
        self.taken.update(normalise(n) for n in names)


def _surname(rng: random.Random) -> str:
    return rng.choice(SYLLABLES_A) + rng.choice(SYLLABLES_B) + rng.choice(SYLLABLES_C)


def build_world(rng: random.Random, events: int) -> World:
    names: dict[str, _Names] = {t: _Names() for t in ("person", "organization", "group", "other")}
    entities: list[Entity] = []
    for kind, name, variants in FAMOUS:
        names[kind].take(name, *variants)
        entities.append(Entity(kind, name, variants))
    countries = {n: Entity("country", n, aliases) for n, aliases in COUNTRIES}

    people = max(150, events // 6)
    attempts = 0
    while len(entities) < len(FAMOUS) + people and attempts < people * 50:
        attempts += 1
        first, last = rng.choice(FIRST_NAMES), _surname(rng)
        full, title = f"{first} {last}", rng.choice(TITLES)
        variants = [last, f"{title} {full}", f"{first[0]}. {last}"]
        if names["person"].free(full, last):
            names["person"].take(full, *variants)
            entities.append(Entity("person", full, variants))
    others: list[Entity] = []
    for kind, count in (("organization", events // 20), ("group", events // 50)):
        made = 0
        for _ in range(max(30, count) * 20):
            if made >= max(30, count):
                break
            if kind == "organization":
                base = f"{rng.choice(ORG_ADJ)} {rng.choice(ORG_NOUN)} {rng.choice(ORG_KIND)}"
                name = f"{base} of {rng.choice(COUNTRIES)[0]}" if rng.random() < 0.5 else base
                acronym = "".join(w[0] for w in name.replace("-", " ").split() if w[0].isupper())
                variants = [acronym, f"the {name}"]
            else:
                name = f"{_surname(rng)} {rng.choice(GROUP_KIND)}"
                variants = [f"{name.split()[0]} group"]
            if not names[kind].free(name):
                continue
            variants = [v for v in variants if names[kind].free(v)]
            names[kind].take(name, *variants)
            others.append(Entity(kind, name, variants))
            made += 1
    for i in range(max(20, events // 100)):
        name = f"{_surname(rng)} {rng.choice(OTHER_KIND)}"
        if names["other"].free(name):
            names["other"].take(name)
            others.append(Entity("other", name, [f"{name} ({i})"] if rng.random() < 0.1 else []))
    tail = entities[len(FAMOUS) :] + others
    rng.shuffle(tail)
    entities = entities[: len(FAMOUS)] + tail

    places: list[Place] = []
    place_names = _Names()
    capitals = [("Moscow", "Russia"), ("Kyiv", "Ukraine"), ("Minsk", "Belarus")]
    capitals += [("Washington", "United States"), ("Beijing", "China"), ("Paris", "France")]
    for name, country in capitals:
        place_names.take(f"{country}:{name}")
        places.append(Place(name, country, rng.uniform(-60, 70), rng.uniform(-170, 170)))
    while len(places) < 600:
        name = (rng.choice(SYLLABLES_A) + rng.choice(SYLLABLES_B) + rng.choice(PLACE_END)).title()
        country = rng.choice(COUNTRIES)[0]
        if place_names.free(f"{country}:{name}"):
            place_names.take(f"{country}:{name}")
            lat, lon = round(rng.uniform(-60, 70), 4), round(rng.uniform(-170, 170), 4)
            places.append(Place(name, country, lat, lon))

    return World(
        entities=entities,
        entity_weights=_zipf_weights(len(entities)),
        countries=countries,
        outlets=build_outlets(rng),
        outlet_weights=_zipf_weights(300, q=3.0),
        places=places,
        place_weights=_zipf_weights(len(places), s=0.8, q=5.0),
    )


def build_outlets(rng: random.Random, count: int = 300) -> list[Outlet]:
    names = _Names()
    outlets: list[Outlet] = []
    holdings = [f"{_surname(rng).lower()}-media" for _ in range(20)]
    while len(outlets) < count:
        name = f"{rng.choice(OUTLET_PREFIX)} {rng.choice(OUTLET_NOUN)}"
        if rng.random() < 0.3:
            name = f"The {name}"
        if not names.free(name, name.removeprefix("The ")):
            continue
        aliases: list[str] = []
        short = name.removeprefix("The ")
        if short != name:
            aliases.append(short)
        acronym = "".join(w[0] for w in short.split())
        if names.free(acronym) and rng.random() < 0.4:
            aliases.append(acronym)
        if rng.random() < 0.1 and names.free(short.translate(CYRILLIC)):
            aliases.append(short.translate(CYRILLIC))
        names.take(name, *aliases)
        country = rng.choice(COUNTRIES)[0]
        roll = rng.random()
        tier = (
            "trusted"
            if roll < 0.12
            else "standard"
            if roll < 0.67
            else "state-affiliated"
            if roll < 0.85
            else "unknown"
        )
        if tier == "state-affiliated":
            group: str | None = f"{normalise(country).replace(' ', '-')}-state-media"
        elif rng.random() < 0.15:
            group = rng.choice(holdings)
        elif rng.random() < 0.03:
            group = None
        else:
            group = normalise(short).replace(" ", "-")
        domain = normalise(short).replace(" ", "") + rng.choice([".com", ".net", ".org", ".news"])
        registered = tier != "unknown" or rng.random() < 0.25
        kind = rng.choice(OUTLET_KINDS)
        outlets.append(Outlet(name, aliases, tier, group, country, kind, registered, domain))
    rng.shuffle(outlets)
    return outlets


def registry(world: World) -> dict[str, Any]:
    """The outlet registry matching the records (`outlets.json`)."""
    entries = [
        {
            "name": o.name,
            "aliases": o.aliases,
            "tier": o.tier,
            "group": o.group,
            "country": o.country,
            "kind": o.kind,
        }
        for o in world.outlets
        if o.registered
    ]
    return {"outlets": entries}


# -- events and records -----------------------------------------------------------------------


@dataclass
class Event:
    number: int
    day: date
    occurred_on: str
    category: str
    external_id: str | None
    participants: list[Entity]
    others: list[tuple[Entity, str]]
    place: Place | None
    country_only: str | None
    with_coordinates: bool
    outlets: list[Outlet]
    topic: str


def _distinct(rng: random.Random, items: list[Any], cum: list[float], count: int) -> list[Any]:
    chosen: list[Any] = []
    ids: set[int] = set()
    for _ in range(count * 20):
        if len(chosen) >= count:
            break
        (item,) = rng.choices(items, cum_weights=cum)
        if id(item) not in ids:
            ids.add(id(item))
            chosen.append(item)
    return chosen


def make_event(rng: random.Random, world: World, number: int) -> Event:
    day = START + timedelta(days=rng.randrange(DAYS))
    category = _weighted(rng, CATEGORIES)
    n_participants = _weighted(rng, [(0, 10), (1, 35), (2, 40), (3, 15)])
    n_others = rng.randint(0, 4)
    picked = _distinct(rng, world.entities, world.entity_weights, n_participants + n_others)
    participants = picked[:n_participants]
    roles = ["mentioned", "target", "subject", "party"]
    others = [(e, rng.choice(roles)) for e in picked[n_participants:]]
    place = country_only = None
    roll = rng.random()
    if roll < 0.85:
        (place,) = rng.choices(world.places, cum_weights=world.place_weights)
        if rng.random() < 0.5:
            others.append((world.countries[place.country], "party"))
    elif roll < 0.95:
        country_only = rng.choice(COUNTRIES)[0]
    occurred = day.isoformat()
    if rng.random() < 0.15:
        occurred += f"T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z"
    n_outlets = rng.choices(range(1, 9), weights=OUTLETS_PER_EVENT)[0]
    outlets = _distinct(rng, world.outlets, world.outlet_weights, n_outlets)
    return Event(
        number=number,
        day=day,
        occurred_on=occurred,
        category=category,
        external_id=f"cl-{rng.getrandbits(48):012x}" if rng.random() < 0.4 else None,
        participants=participants,
        others=others,
        place=place,
        country_only=country_only,
        with_coordinates=rng.random() < 0.5,
        outlets=outlets,
        topic=rng.choice(TOPICS),
    )


def _spelling(rng: random.Random, entity: Entity) -> tuple[str, list[str]]:
    """One record's name and aliases for `entity`: the canonical name is always among them, so
    every spelling resolves to the same node; which one leads, and which others come, varies."""
    if not entity.variants or rng.random() < 0.5:
        k = rng.randint(0, len(entity.variants))
        return entity.name, rng.sample(entity.variants, k)
    lead = rng.choice(entity.variants)
    rest = [v for v in entity.variants if v != lead]
    return lead, [entity.name, *rng.sample(rest, rng.randint(0, len(rest)))]


def _display(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def summary_text(rng: random.Random, event: Event, spelled: list[str], variant: int) -> str:
    """One record's summary: every record words the event its own way."""
    who = _display(spelled) or rng.choice(["Officials", "Authorities", "Local sources"])
    where = event.place.name if event.place else event.country_only or "the region"
    topic, n = event.topic, event.number
    templates = {
        "diplomatic": [
            f"{who} met in {where} to discuss {topic}.",
            f"Talks on {topic} were held in {where} with {who}.",
            f"{who} held a meeting in {where} focused on {topic}.",
        ],
        "military": [
            f"{who} {rng.choice(MILITARY)} {where}, according to field reports.",
            f"Forces linked to {who} {rng.choice(MILITARY)} {where}.",
            f"Fighting around {where} involved {who}.",
        ],
        "political": [
            f"{who} announced a decision on {topic} in {where}.",
            f"In {where}, {who} set out a position on {topic}.",
            f"A political statement on {topic} came from {who} in {where}.",
        ],
        "economic": [
            f"{who} agreed measures on {topic} worth {n % 97 + 3} billion in {where}.",
            f"An economic package on {topic} was unveiled by {who} in {where}.",
            f"{who} signed a deal on {topic} in {where}.",
        ],
    }
    generic = [
        f"{who}: developments on {topic} in {where}.",
        f"Reports from {where} describe {who} and {topic}.",
        f"{who} were involved in events concerning {topic} in {where}.",
    ]
    options = templates.get(event.category, generic)
    return options[variant % len(options)]


def claim_text(rng: random.Random, event: Event, spelled: list[str]) -> str:
    who = rng.choice(spelled) if spelled else "Officials"
    where = event.place.name if event.place else "the area"
    return rng.choice(
        [
            f"{who} said the talks on {event.topic} would continue.",
            f"Witnesses in {where} described the situation as tense.",
            f"{who} denied any involvement in the incident in {where}.",
            f"According to {who}, {event.topic} was the main subject.",
            f"The statement was published on {event.day.isoformat()}.",
            f"Officials in {where} confirmed the figures reported earlier.",
        ]
    )


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _slug(text: str, number: int) -> str:
    words = normalise(text).split()[:7]
    return "-".join(words) + f"-{number:x}"


HARD_SHARE = 0.1  # with --hard: the share of event numbers that start a hard case
ROUND_UP = [
    "Daily round-up: {n} incidents reported across the country",
    "Overnight summary: {n} developments recorded by our correspondents",
    "What happened today: {n} reports from the field",
]


class Generator:
    def __init__(self, seed: int, events: int, hard: bool = False) -> None:
        self.rng = random.Random(seed)
        self.world = build_world(self.rng, events)
        self.events = events
        self.hard = hard
        self.fingerprints: set[str] = set()
        self.records = 0
        self.truth: list[str] = []  # each line's event (`--truth`), after `generate`

    def _free(self, key: str) -> bool:
        return key not in self.fingerprints

    def event(self, number: int) -> Event:
        """A new event whose fingerprints no earlier event has."""
        for _ in range(50):
            event = make_event(self.rng, self.world, number)
            if event.external_id is not None:
                return event
            if not event.participants:
                return event  # identified by its summary, checked per record
            key = self._participants_key(event)
            if self._free(key):
                self.fingerprints.add(key)
                return event
        event.external_id = f"cl-{number:012x}"
        return event

    def _participants_key(self, event: Event) -> str:
        names = sorted(f"{e.type}:{normalise(e.name)}" for e in event.participants)
        return f"p:{event.day}:{event.category}:{'|'.join(names)}"

    def records_of(self, event: Event, copies: int) -> Iterator[tuple[str, dict[str, Any]]]:
        rng = self.rng
        first_extracted = datetime.combine(event.day, datetime.min.time(), UTC) + timedelta(
            hours=rng.uniform(2, 72)
        )
        base_summary: str | None = None
        seen_outlets: list[Outlet] = []
        for copy in range(copies):
            extracted = first_extracted + timedelta(hours=copy * rng.uniform(4, 96))
            mentions: list[dict[str, Any]] = []
            spelled: list[str] = []
            for entity in event.participants:
                name, aliases = _spelling(rng, entity)
                spelled.append(name)
                mentions.append(_mention(entity, name, aliases, "participant"))
            for entity, role in event.others:
                if copy > 0 and rng.random() < 0.3:
                    continue  # a later story leaves some of them out
                name, aliases = _spelling(rng, entity)
                mentions.append(_mention(entity, name, aliases, role))
            summary = self._summary(event, spelled, copy, base_summary)
            if base_summary is None:
                base_summary = summary
            if copy == 0:
                outlets = event.outlets
            else:
                fresh = _distinct(rng, self.world.outlets, self.world.outlet_weights, 3)
                again = [o for o in seen_outlets if rng.random() < 0.2]
                outlets = (again + [o for o in fresh if o not in again])[: rng.randint(1, 4)]
            seen_outlets += [o for o in outlets if o not in seen_outlets]
            source = outlets[0] if rng.random() < 0.7 else rng.choice(outlets)
            self.records += 1
            slug = _slug(summary, self.records)
            published = (extracted - timedelta(hours=rng.uniform(0, 12))).date().isoformat()
            reports = [self._report(event, o, spelled, slug) for o in outlets]
            record: dict[str, Any] = {
                "schema_version": 1,
                "extracted_at": _timestamp(extracted),
                "source_story": {
                    "slug": slug,
                    "outlet": self._outlet_name(source),
                    "url": f"https://{source.domain}/{published[:7].replace('-', '/')}/{slug}",
                    "published_on": published,
                },
                "event": {
                    "category": event.category,
                    "summary": summary,
                    "occurred_on": event.occurred_on,
                    "entities": mentions,
                    "reports": reports,
                },
            }
            if event.external_id is not None:
                record["event"] = {"id": event.external_id, **record["event"]}
            location = self._location(event)
            if location is not None:
                record["event"]["location"] = location
            yield record["extracted_at"], record

    def _summary(self, event: Event, spelled: list[str], copy: int, base: str | None) -> str:
        rng = self.rng
        prefix = f"s:{event.day}:{event.category}:"
        if base is not None and not event.participants and event.external_id is None:
            # identified by its summary alone: the same words, spelled another way
            return rng.choice([base.upper(), base.rstrip(".") + "!", base.replace(",", " -")])
        for attempt in range(20):
            summary = summary_text(rng, event, spelled, copy + attempt)
            if attempt >= 3:
                summary = summary.rstrip(".") + f" (report {event.number}-{copy}-{attempt})."
            if self._free(prefix + normalise(summary)):
                self.fingerprints.add(prefix + normalise(summary))
                return summary
        raise AssertionError("no free summary")  # pragma: no cover

    def _outlet_name(self, outlet: Outlet) -> str:
        rng = self.rng
        if outlet.registered and outlet.aliases and rng.random() < 0.1:
            return rng.choice(outlet.aliases)
        if rng.random() < 0.03:
            return outlet.name.upper()  # the same key once normalised
        return outlet.name

    def _report(
        self, event: Event, outlet: Outlet, spelled: list[str], slug: str
    ) -> dict[str, Any]:
        rng = self.rng
        count = rng.choices(range(4), weights=CLAIMS_PER_REPORT)[0]
        claims = [
            {"text": claim_text(rng, event, spelled), "tone": _weighted(rng, TONES)}
            for _ in range(count)
        ]
        report: dict[str, Any] = {"outlet": self._outlet_name(outlet), "claims": claims}
        if rng.random() < 0.5:
            report["url"] = f"https://{outlet.domain}/{slug}"
        return report

    def _location(self, event: Event) -> dict[str, Any] | None:
        if event.place is not None:
            location: dict[str, Any] = {"place": event.place.name, "country": event.place.country}
            if event.with_coordinates:
                location |= {"lat": event.place.lat, "lon": event.place.lon}
            return location
        if event.country_only is not None:
            return {"country": event.country_only}
        return None

    def generate(self) -> list[str]:
        """Every record as a JSON line, in extraction order."""
        timed: list[tuple[str, int, str, str]] = []
        for number in range(self.events):
            if self.hard and self.rng.random() < HARD_SHARE:
                for extracted, record, truth in self.hard_case(number):
                    line = json.dumps(record, ensure_ascii=False, separators=(", ", ": "))
                    timed.append((extracted, len(timed), line, truth))
                continue
            event = self.event(number)
            copies = 1
            if self.rng.random() < 1 / 3:
                copies += _weighted(self.rng, EXTRA_RECORDS)
            for extracted, record in self.records_of(event, copies):
                line = json.dumps(record, ensure_ascii=False, separators=(", ", ": "))
                timed.append((extracted, len(timed), line, f"g{number}"))
        timed.sort()
        self.truth = [truth for _, _, _, truth in timed]
        return [line for _, _, line, _ in timed]

    # -- hard cases (--hard): what real reporting does and the plain generator avoids --------

    def _hard_event(self, number: int) -> Event:
        """An event with two or more participants, a place and no extractor id (the matcher's)."""
        for _ in range(50):
            event = make_event(self.rng, self.world, number)
            if len(event.participants) >= 2 and event.place is not None:
                break
        else:
            event.participants = _distinct(
                self.rng, self.world.entities, self.world.entity_weights, 2
            )
            event.place = self.rng.choices(self.world.places, cum_weights=self.world.place_weights)[
                0
            ]
        event.external_id = None
        return event

    def hard_case(self, number: int) -> Iterator[tuple[str, dict[str, Any], str]]:
        """One hard case, each record with its true event: (a) the same sides on the same day
        in two to four different places (two to four events); (b) one event re-worded by
        several outlets, some giving the day after; (c) a round-up story naming two to four
        events, one record per event it covers (the same outlet, slug and headline), each
        event also reported on its own."""
        rng = self.rng
        kind = rng.choice("abc")
        base = self._hard_event(number)
        if kind == "a":
            places = [base.place] + _distinct(
                rng, self.world.places, self.world.place_weights, rng.randint(1, 3)
            )
            seen: set[int] = set()
            for k, place in enumerate(places):
                if place is None or id(place) in seen:
                    continue
                seen.add(id(place))
                event = replace(base, number=number, place=place, outlets=list(base.outlets))
                copies = 1 + (rng.random() < 0.5)
                for extracted, record in self.records_of(event, copies):
                    yield extracted, record, f"g{number}.{k}"
        elif kind == "b":
            for copy, (extracted, record) in enumerate(self.records_of(base, rng.randint(2, 4))):
                if copy > 0 and rng.random() < 0.5:
                    later = base.day + timedelta(days=1)
                    record["event"]["occurred_on"] = later.isoformat()
                yield extracted, record, f"g{number}"
        else:
            events = [base] + [self._hard_event(number) for _ in range(rng.randint(1, 3))]
            for event in events[1:]:
                event.day, event.occurred_on = base.day, base.occurred_on
            outlet = self._outlet_name(rng.choice(self.world.outlets[:20]))
            headline = rng.choice(ROUND_UP).format(n=len(events))
            self.records += 1
            slug = _slug(headline, self.records)
            for k, event in enumerate(events):
                records = list(self.records_of(event, 2))
                yield records[0][0], records[0][1], f"g{number}.{k}"
                extracted, record = records[1]
                record["source_story"] = {**record["source_story"], "slug": slug, "outlet": outlet}
                record["source_story"].pop("url", None)
                record["event"]["summary"] = headline
                yield extracted, record, f"g{number}.{k}"


def _mention(entity: Entity, name: str, aliases: list[str], role: str) -> dict[str, Any]:
    mention: dict[str, Any] = {"name": name, "type": entity.type}
    if aliases:
        mention["aliases"] = aliases
    mention["role"] = role
    return mention


def write(
    events: int,
    seed: int,
    output: IO[str],
    registry_path: Path | None,
    truth_path: Path | None = None,
    hard: bool = False,
) -> int:
    """Write the records to `output` and the registry to `registry_path`; the record count.
    With `truth_path`, each line's event too (a JSON list, as bench/identity.py reads it)."""
    generator = Generator(seed, events, hard)
    lines = generator.generate()
    for line in lines:
        output.write(line + "\n")
    if truth_path is not None:
        truth_path.write_text(json.dumps(generator.truth) + "\n", encoding="utf-8")
    if registry_path is not None:
        text = json.dumps(registry(generator.world), ensure_ascii=False, indent=1)
        registry_path.write_text(text + "\n", encoding="utf-8")
    return len(lines)


def check(path: Path) -> int:
    """Validate every line with the loader's own parser; the number of rejected lines."""
    from loaders.records import Rejection, parse_line

    bad = 0
    with path.open(encoding="utf-8") as stream:
        for number, line in enumerate(stream, start=1):
            parsed = parse_line(line, number)
            if isinstance(parsed, Rejection) or parsed is None:
                bad += 1
                if bad <= 5:
                    print(f"line {number}: {parsed}", file=sys.stderr)
    return bad


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, required=True, help="how many real-world events")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", type=Path, help="the JSON Lines file [stdout]")
    parser.add_argument(
        "--registry", type=Path, help="the outlet registry [outlets.json beside --output]"
    )
    parser.add_argument("--check", action="store_true", help="validate every line afterwards")
    parser.add_argument(
        "--truth", type=Path, help="also write each line's event (a JSON list) to this file"
    )
    parser.add_argument(
        "--hard",
        action="store_true",
        help="a tenth of the events start a hard case for the identity matcher (no event.id): "
        "the same sides on one day in different places, one event re-worded by several outlets "
        "a day apart, round-ups naming several events; use with --truth",
    )
    args = parser.parse_args(argv)
    registry_path: Path | None = args.registry
    if args.output is None:
        count = write(args.events, args.seed, sys.stdout, registry_path, args.truth, args.hard)
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        registry_path = registry_path or args.output.parent / "outlets.json"
        with args.output.open("w", encoding="utf-8") as output:
            count = write(args.events, args.seed, output, registry_path, args.truth, args.hard)
    print(f"{count} records of {args.events} events", file=sys.stderr)
    if args.check and args.output is not None:
        bad = check(args.output)
        print(f"checked: {count - bad} valid, {bad} rejected", file=sys.stderr)
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
