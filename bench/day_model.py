"""The simulated day's model: the hall's parameters, the compressed clock, and the shared state.

- :data:`SERVICE_MIX` and :data:`KINDS`: what visitors come for and how they behave, as shares;
  :func:`arrival_fraction` (a morning peak, an afternoon peak, a trickle between),
  :func:`pick_services`, :func:`assign_kinds`, :func:`id_number` draw from them;
- :class:`Day`: day fraction ↔ real seconds, the hall's 8 h compressed into ``minutes``;
- :class:`Visitor`, :class:`Window` and :class:`Hall`: what the simulated people share (who
  holds which number, each device's HTTP client on its own loopback address, every refusal
  counted by code);
- :func:`plan_day`: the day's visitors (in arrival order) and each window's plan (lunch, a late
  opening, an early close).

The people who act on it are in ``day_clerks.py`` and ``day_visitors.py``; the runner is
``day.py``, the verdict ``day_report.py``. ``soak.py`` reuses the arrivals and the service mix.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

HALL = "demo"
WINDOWS = ("1", "2", "3", "4", "5")
HALL_DAY_S = 8 * 3600  # 08:30–16:30 of a hall day

#: What visitors come for (the seed: registration, transfers, pensions, photos; some take one
#: ticket for two services, like the HR manager of the article).
SERVICE_MIX = [
    (["register"], 0.33),
    (["transfer"], 0.22),
    (["pension"], 0.17),
    (["photo"], 0.22),
    (["register", "transfer"], 0.06),
]
#: Visitor behaviours, as shares of the day's visitors (each at least one when there are ≥ 10).
KINDS = [
    ("leaver", 0.05),  # gives up and cancels (phone, or at the desk) while waiting
    ("noshow_once", 0.06),  # misses the first call (outside, on the phone), comes to the next
    ("never_comes", 0.03),  # never comes: requeued, then closed as no-show
    ("document", 0.04),  # the clerk suspends them; they fetch a document and come back
    ("duplicate", 0.03),  # tries a second ticket with the same ID number: refused
]

# --- the model's parameters -------------------------------------------------------------


@dataclass
class Day:
    """The compressed clock: day fraction ↔ real seconds since the start."""

    minutes: float
    start: float = field(default_factory=time.monotonic)

    @property
    def length_s(self) -> float:
        return self.minutes * 60

    @property
    def scale(self) -> float:
        """Real seconds per hall second."""
        return self.length_s / HALL_DAY_S

    def hall_minutes(self, minutes: float) -> float:
        """Real seconds for ``minutes`` of hall time."""
        return minutes * 60 * self.scale

    def fraction(self) -> float:
        return (time.monotonic() - self.start) / self.length_s

    async def until(self, fraction: float) -> None:
        delay = self.start + fraction * self.length_s - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


def arrival_fraction(rng: random.Random) -> float:
    """When in the day a visitor comes: a morning peak, an afternoon peak, a trickle between."""
    roll = rng.random()
    if roll < 0.45:
        value = rng.gauss(0.16, 0.07)
    elif roll < 0.8:
        value = rng.gauss(0.64, 0.07)
    else:
        value = rng.uniform(0.0, 0.88)
    return min(0.88, max(0.0, value))


def pick_services(rng: random.Random) -> list[str]:
    roll = rng.random() * sum(w for _, w in SERVICE_MIX)
    for services, weight in SERVICE_MIX:
        roll -= weight
        if roll <= 0:
            return list(services)
    return list(SERVICE_MIX[0][0])


def assign_kinds(count: int, rng: random.Random) -> list[str]:
    kinds = []
    for kind, share in KINDS:
        if kind == "never_comes" and count < 20:
            continue  # three calls 15 s apart each: a short day cannot wait for them
        kinds += [kind] * max(1 if count >= 10 else 0, round(share * count))
    kinds += ["normal"] * max(0, count - len(kinds))
    rng.shuffle(kinds)
    return kinds[:count]


def id_number(rng: random.Random) -> str:
    return "4401" + "".join(rng.choice("0123456789") for _ in range(13)) + rng.choice("0123456789X")


# --- the hall as the simulator sees it --------------------------------------------------


@dataclass
class Visitor:
    vid: int
    arrive: float
    services: list[str]
    priority: bool
    via: str
    kind: str
    id_number: str | None
    rates: int
    address: str
    token: str | None = None
    number: str | None = None
    phone: list[dict[str, Any]] = field(default_factory=list)
    started: bool = False
    arrivals: int = 0
    turned_away: int = 0
    ignored: int = 0
    suspended_at: str | None = None
    final_status: str | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def public(self) -> dict[str, Any]:
        return {
            "vid": self.vid,
            "kind": self.kind,
            "via": self.via,
            "services": self.services,
            "priority": self.priority,
            "token": self.token,
            "number": self.number,
            "started": self.started,
            "arrivals": self.arrivals,
            "turned_away": self.turned_away,
            "final_status": self.final_status,
            "phone": [
                {
                    "ticket": {
                        "status": (f.get("ticket") or {}).get("status"),
                        "window": (f.get("ticket") or {}).get("window"),
                    },
                    "ahead": f.get("ahead"),
                    "t": f.get("t"),
                }
                for f in self.phone
            ],
        }


@dataclass
class Window:
    wid: str
    clerk: str
    arrivals: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    returns: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    open: bool = False
    paused: bool = False
    calls: int = 0
    served: int = 0


class Hall:
    """Shared by the simulated people: who is where, what was refused."""

    def __init__(self, base: str, day: Day, rng: random.Random) -> None:
        self.base = base
        self.ws_base = "ws" + base[4:]
        self.day = day
        self.rng = rng
        self.windows = {w: Window(w, f"s0{w}") for w in WINDOWS}
        self.by_number: dict[str, Visitor] = {}
        self.refusals: Counter[str] = Counter()
        self.errors: list[str] = []
        self.refusal_log: list[dict[str, Any]] = []
        self.transfers_made = 0
        self.stop = asyncio.Event()
        self.clients: dict[str, httpx.AsyncClient] = {}

    def client(self, address: str) -> httpx.AsyncClient:
        """One HTTP client per device: each device has its own loopback address (rate limits are per address)."""
        if address not in self.clients:
            transport = httpx.AsyncHTTPTransport(local_address=address, retries=0)
            self.clients[address] = httpx.AsyncClient(base_url=self.base, transport=transport, timeout=15)
        return self.clients[address]

    async def request(
        self, address: str, method: str, path: str, what: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            answer = await self.client(address).request(method, path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            self.errors.append(f"{what}: {exc!r}")
            return 0, None
        try:
            data = answer.json()
        except ValueError:
            data = answer.text
        if answer.status_code >= 400:
            code = data.get("error", {}).get("code") if isinstance(data, dict) else None
            self.refusals[f"{what}:{answer.status_code} {code}"] += 1
        return answer.status_code, data

    def refused(self, who: str, action: str, answer: dict[str, Any], fields: dict[str, Any]) -> None:
        error = answer.get("error") or {}
        self.refusals[f"{action}:{error.get('code')}"] += 1
        self.refusal_log.append(
            {
                "t": round(time.monotonic() - self.day.start, 2),
                "who": who,
                "action": action,
                "fields": fields,
                "code": error.get("code"),
                "message": error.get("message"),
            }
        )

    def open_windows(self) -> list[str]:
        return [w.wid for w in self.windows.values() if w.open and not w.paused]


def plan_day(rng: random.Random, visitors: int, minutes: float) -> tuple[list[Visitor], dict[str, dict[str, Any]]]:
    kinds = assign_kinds(visitors, rng)
    desk_share = min(0.4, 50 / max(visitors, 1) * 0.8)  # ~40 of the ~100 consultations end in a ticket
    people = []
    for vid in range(visitors):
        people.append(
            Visitor(
                vid=vid,
                arrive=arrival_fraction(rng),
                services=pick_services(rng),
                priority=rng.random() < 0.1,
                via="desk" if rng.random() < desk_share else "kiosk",
                kind=kinds[vid],
                id_number=id_number(rng) if (rng.random() < 0.6 or kinds[vid] == "duplicate") else None,
                rates=(2 if rng.random() < 0.3 else 1) if rng.random() < 0.45 else 0,
                address=f"127.0.{2 + vid // 250}.{1 + vid % 250}",
            )
        )
    # The desk's first ticket and a duplicate come early, so even a short day has them.
    people.sort(key=lambda v: v.arrive)
    plans: dict[str, dict[str, Any]] = {
        "1": {"lunch": (0.40, 0.48)},
        "2": {"lunch": (0.40, 0.48)},
        "3": {"lunch": (0.48, 0.56)},
        "4": {"close_at": 0.72},  # called away for the afternoon: closes early
        "5": {"open_at": 0.12, "lunch": (0.48, 0.56)},  # the photo window opens late
    }
    return people, plans
