"""The app's options, built by the entry point (`newsgraph.wiring`) and handed to
`api.app.create_app`; `api` reads no environment and no settings of its own."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_SUBMIT_RATE = "10/minute"


@dataclass(frozen=True, slots=True)
class AppConfig:
    """What the app is configured with, besides the store and the tokens."""

    # How often one client may call `submitSource` (a `limits` rate: 10/minute, 100/hour).
    submit_rate: str = DEFAULT_SUBMIT_RATE
