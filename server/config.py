"""The hall file: TOML in, a typed and validated :class:`~server.hall_model.Hall` out.

Validation never stops at the first mistake: :func:`parse_hall` collects every
problem as a :class:`~server.toml_locator.ConfigProblem` with its key path and, where it can be
found, the line in the file, so ``hallq check-config`` can print them all.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import zoneinfo
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from server import staff_overlay
from server.hall_model import (
    WEEKDAYS,
    AnnounceRules,
    Appointments,
    Hall,
    NoShowRules,
    Remote,
    Rules,
    Service,
    Sms,
    Staff,
    Webhook,
    Window,
)
from server.pins import valid_pin_hash
from server.queue.constants import WINDOW_RE
from server.toml_locator import ConfigError, ConfigProblem, FieldReader, parse_time

HALL_KEYS = (
    "id",
    "name",
    "languages",
    "timezone",
    "hours",
    "ticket_cutoff",
    "daily_reset",
    "rating_timeout_s",
    "event_retention",
)
ROLES = ("clerk", "desk", "admin")
KINDS = ("instant", "promised")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_LANG_RE = re.compile(r"^[a-z]{2,3}$")


class _Parser(FieldReader):
    """The hall file's schema: each section read, checked and built into the model."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.service_index: dict[str, int] = {}  # service id → its [[services]] table's index

    # --- sections -------------------------------------------------------

    def hall(self, root: Mapping[str, Any]) -> Hall | None:  # noqa: C901 — a section's schema: one check per rule, each with its own message and line
        sections = ("hall", "services", "windows", "staff", "rules", "appointments", "webhooks", "ratings")
        self.known(root, "", (*sections, "remote", "sms"))
        hall = self.table(root, "hall", "hall")
        self.known(hall, "hall", HALL_KEYS)
        hall_id = self.string(hall, "id", "hall.id")
        if hall_id and not _ID_RE.fullmatch(hall_id):
            self.problem("hall.id", "must be lowercase letters, digits, '-' or '_' (at most 32)")
        name = self.names(hall, "name", "hall.name")
        languages = hall.get("languages", ["zh", "en"])
        if not isinstance(languages, list) or not languages:
            self.problem("hall.languages", 'must list at least one language, e.g. ["zh", "en"]')
            languages = []
        for index, lang in enumerate(languages):
            if not isinstance(lang, str) or not _LANG_RE.fullmatch(lang):
                self.problem(f"hall.languages[{index}]", f"bad language code {lang!r}")
        if len(set(map(str, languages))) != len(languages):
            self.problem("hall.languages", "lists a language twice")
        # only well-formed codes go on to the checks below (a list in the list must not crash them)
        languages = [lang for lang in languages if isinstance(lang, str) and _LANG_RE.fullmatch(lang)]
        timezone = self.string(hall, "timezone", "hall.timezone", "Asia/Shanghai")
        if timezone:
            try:
                zoneinfo.ZoneInfo(timezone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                self.problem("hall.timezone", f"unknown time zone {timezone!r}")
        hours = self.hours(self.table(hall, "hours", "hall.hours"))
        cutoff = self.time(hall, "ticket_cutoff", "hall.ticket_cutoff", "24:00")
        reset = self.time(hall, "daily_reset", "hall.daily_reset", "00:00")
        if reset >= 24 * 60:
            self.problem("hall.daily_reset", "must be before 24:00")
            reset = 0
        rating_timeout = self.integer(hall, "rating_timeout_s", "hall.rating_timeout_s", 60, 5, 3600)
        retention = self.integer(hall, "event_retention", "hall.event_retention", 10_000, 10_000, 1_000_000)
        services = self.services(root.get("services"))
        service_ids = {s.id for s in services}
        windows = self.windows(root.get("windows"), service_ids)
        staff = self.staff(root.get("staff"))
        rules = self.rules(self.table(root, "rules", "rules"), [str(lang) for lang in languages])
        appointments = None
        if "appointments" in root:
            appointments = self.appointments(self.table(root, "appointments", "appointments"), services)
        remote = self.remote(self.table(root, "remote", "remote")) if "remote" in root else None
        webhooks = self.webhooks(root.get("webhooks"))
        sms = self.sms(self.table(root, "sms", "sms"), [str(lang) for lang in languages]) if "sms" in root else None
        ratings = self.table(root, "ratings", "ratings")
        self.known(ratings, "ratings", ("follow_up_days",))
        follow_up_days = self.integer(ratings, "follow_up_days", "ratings.follow_up_days", 5, 1, 60)
        for service in services:
            # (a service without a valid id has been reported already)
            if service.id and not any(service.id in w.services for w in windows):
                self.problem(
                    f"services[{self.service_index[service.id]}].id", f"service {service.id!r} is served by no window"
                )
        for lang in languages:
            if lang not in name and name:
                self.problem("hall.name", f"has no name in {lang!r}")
        if self.problems:
            return None
        return Hall(
            id=hall_id,
            name=name,
            languages=tuple(languages),
            timezone=timezone,
            hours=hours,
            ticket_cutoff=cutoff,
            daily_reset=reset,
            rating_timeout_s=rating_timeout,
            event_retention=retention,
            services=services,
            windows=windows,
            staff=staff,
            rules=rules,
            source_text=self.text,
            appointments=appointments,
            webhooks=webhooks,
            follow_up_days=follow_up_days,
            remote=remote,
            sms=sms,
        )

    def hours(self, raw: Mapping[str, Any]) -> dict[str, tuple[tuple[int, int], ...]]:
        hours: dict[str, tuple[tuple[int, int], ...]] = {}
        for day, spans in raw.items():
            path = f"hall.hours.{day}"
            if day not in WEEKDAYS:
                self.problem(path, f"unknown weekday; use one of {', '.join(WEEKDAYS)}")
                continue
            if not isinstance(spans, list):
                self.problem(path, 'must be a list like ["08:30-12:00", "13:30-17:30"]')
                continue
            parsed: list[tuple[int, int]] = []
            for index, span in enumerate(spans):
                start_end = span.split("-") if isinstance(span, str) else []
                times = [parse_time(t.strip()) for t in start_end]
                if len(times) != 2 or None in times or times[0] >= times[1]:  # type: ignore[operator]
                    self.problem(f"{path}[{index}]", f"bad opening span {span!r}: expected HH:MM-HH:MM")
                    continue
                parsed.append((times[0], times[1]))  # type: ignore[arg-type]
            hours[day] = tuple(sorted(parsed))
        if not raw:
            hours = {day: ((0, 24 * 60),) for day in WEEKDAYS}
        return hours

    def services(self, raw: Any) -> tuple[Service, ...]:
        if not isinstance(raw, list) or not raw:
            self.problem("services", "at least one [[services]] table is required")
            return ()
        result: list[Service] = []
        seen_ids: set[str] = set()
        seen_prefixes: set[str] = set()
        for index, item in enumerate(raw):
            path = f"services[{index}]"
            if not isinstance(item, Mapping):
                self.problem(path, "must be a table")
                continue
            self.known(item, path, ("id", "prefix", "name", "kind", "expected_minutes", "daily_quota"))
            service_id = self.string(item, "id", f"{path}.id")
            self.service_index.setdefault(service_id, index)
            if service_id and not _ID_RE.fullmatch(service_id):
                self.problem(f"{path}.id", "must be lowercase letters, digits, '-' or '_'")
            if service_id in seen_ids:
                self.problem(f"{path}.id", f"duplicate service id {service_id!r}")
            seen_ids.add(service_id)
            prefix = self.string(item, "prefix", f"{path}.prefix")
            if prefix and not re.fullmatch(r"[A-Z]", prefix):
                self.problem(f"{path}.prefix", f"bad prefix {prefix!r}: one capital letter A–Z")
            elif prefix in seen_prefixes:
                self.problem(f"{path}.prefix", f"duplicate prefix {prefix!r}")
            seen_prefixes.add(prefix)
            kind = item.get("kind", "instant")
            if kind not in KINDS:
                self.problem(f"{path}.kind", f"must be one of {', '.join(KINDS)}")
            expected = item.get("expected_minutes", 10)
            if isinstance(expected, bool) or not isinstance(expected, int | float) or not 0 < expected <= 480:
                self.problem(f"{path}.expected_minutes", "must be a number of minutes above 0, at most 480")
                expected = 10
            quota = item.get("daily_quota")
            if quota is not None and (isinstance(quota, bool) or not isinstance(quota, int) or not 1 <= quota <= 999):
                self.problem(f"{path}.daily_quota", "must be a whole number from 1 to 999")
                quota = None
            result.append(
                Service(
                    id=service_id,
                    prefix=prefix,
                    name=self.names(item, "name", f"{path}.name"),
                    kind=str(kind),
                    expected_minutes=float(expected),
                    daily_quota=quota,
                )
            )
        return tuple(result)

    def windows(self, raw: Any, service_ids: set[str]) -> tuple[Window, ...]:  # noqa: C901 — a section's schema: one check per rule, each with its own message and line
        if not isinstance(raw, list) or not raw:
            self.problem("windows", "at least one [[windows]] table is required")
            return ()
        result: list[Window] = []
        seen: set[str] = set()
        for index, item in enumerate(raw):
            path = f"windows[{index}]"
            if not isinstance(item, Mapping):
                self.problem(path, "must be a table")
                continue
            self.known(item, path, ("id", "name", "tiers", "services"))
            window_id = item.get("id")
            if isinstance(window_id, int) and not isinstance(window_id, bool):
                window_id = str(window_id)
            if not isinstance(window_id, str) or not WINDOW_RE.fullmatch(window_id):
                self.problem(f"{path}.id", 'must be a short id such as "3" or "A1"')
                window_id = ""
            if window_id in seen:
                self.problem(f"{path}.id", f"duplicate window id {window_id!r}")
            seen.add(window_id)
            tiers_raw = item.get("tiers")
            if tiers_raw is None and isinstance(item.get("services"), list):
                tiers_raw = [item["services"]]
            tiers: list[tuple[str, ...]] = []
            if not isinstance(tiers_raw, list) or not tiers_raw:
                self.problem(f"{path}.tiers", "window serves no service: list its services in tiers")
            else:
                listed: set[str] = set()
                for tier_index, tier in enumerate(tiers_raw):
                    tier_path = f"{path}.tiers[{tier_index}]"
                    if not isinstance(tier, list) or not tier:
                        self.problem(f"{path}.tiers", f"tier {tier_index} must be a non-empty list of service ids")
                        continue
                    for service in tier:
                        if service not in service_ids:
                            self.problem(f"{path}.tiers", f"unknown service {service!r} in {tier_path}")
                        elif service in listed:
                            self.problem(f"{path}.tiers", f"service {service!r} listed twice")
                        listed.add(str(service))
                    tiers.append(tuple(str(s) for s in tier))
            name = item.get("name") or {"zh": f"{window_id}号窗口", "en": f"Window {window_id}"}
            names = self.names({"name": name}, "name", f"{path}.name")
            result.append(Window(id=window_id, name=names, tiers=tuple(tiers)))
        return tuple(result)

    def staff(self, raw: Any) -> tuple[Staff, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self.problem("staff", "must be a list of [[staff]] tables")
            return ()
        result: list[Staff] = []
        seen: set[str] = set()
        for index, item in enumerate(raw):
            path = f"staff[{index}]"
            if not isinstance(item, Mapping):
                self.problem(path, "must be a table")
                continue
            self.known(item, path, ("id", "name", "role", "pin_hash", "pin", "disabled"))
            staff_id = self.string(item, "id", f"{path}.id")
            if staff_id in seen:
                self.problem(f"{path}.id", f"duplicate staff id {staff_id!r}")
            seen.add(staff_id)
            name = self.string(item, "name", f"{path}.name")
            role = item.get("role")
            if role not in ROLES:
                self.problem(f"{path}.role", f"must be one of {', '.join(ROLES)}")
            pin_hash = item.get("pin_hash")
            if "pin" in item:
                self.problem(f"{path}.pin", "a PIN is never stored in clear: use pin_hash (hallq hash-pin)")
            if not isinstance(pin_hash, str) or not valid_pin_hash(pin_hash):
                self.problem(f"{path}.pin_hash", "must be a scrypt hash made by `hallq hash-pin`")
                pin_hash = ""
            disabled = item.get("disabled", False)
            if not isinstance(disabled, bool):
                self.problem(f"{path}.disabled", "must be true or false")
                disabled = False
            result.append(Staff(id=staff_id, name=name, role=str(role), pin_hash=pin_hash, disabled=disabled))
        return tuple(result)

    def appointments(self, raw: Mapping[str, Any], services: Sequence[Service]) -> Appointments:
        keys = ("services", "slot_minutes", "per_slot", "check_in_early_min", "check_in_late_min", "days_ahead")
        self.known(raw, "appointments", keys)
        known_ids = [s.id for s in services]
        chosen = raw.get("services", known_ids)
        if not isinstance(chosen, list) or not chosen:
            self.problem("appointments.services", "must list at least one service id")
            chosen = []
        for index, service_id in enumerate(chosen):
            if service_id not in known_ids:
                self.problem(f"appointments.services[{index}]", f"unknown service {service_id!r}")
        if len(set(map(str, chosen))) != len(chosen):
            self.problem("appointments.services", "lists a service twice")
        slot = self.integer(raw, "slot_minutes", "appointments.slot_minutes", 30, 5, 240)
        return Appointments(
            services=tuple(str(s) for s in chosen if s in known_ids),
            slot_minutes=slot,
            per_slot=self.integer(raw, "per_slot", "appointments.per_slot", 4, 1, 1000),
            check_in_early_min=self.integer(raw, "check_in_early_min", "appointments.check_in_early_min", 30, 0, 240),
            check_in_late_min=self.integer(
                raw, "check_in_late_min", "appointments.check_in_late_min", 15, 0, max(0, slot)
            ),
            days_ahead=self.integer(raw, "days_ahead", "appointments.days_ahead", 14, 0, 90),
        )

    def remote(self, raw: Mapping[str, Any]) -> Remote:
        self.known(raw, "remote", ("enabled", "within_hours", "daily_quota"))
        return Remote(
            enabled=self.boolean(raw, "enabled", "remote.enabled", True),
            within_hours=self.boolean(raw, "within_hours", "remote.within_hours", True),
            daily_quota=self.integer(raw, "daily_quota", "remote.daily_quota", 0, 0, 100_000),
        )

    def webhooks(self, raw: Any) -> tuple[Webhook, ...]:
        """``[[webhooks]]``: url (http/https), secret (non-empty), events (known types or "*").
        A problem never quotes the secret, and shows a URL without its credentials or query."""
        from server.webhook_rules import ALL, EVENT_TYPES, shown_url, valid_url

        if raw is None:
            return ()
        if not isinstance(raw, list):
            self.problem("webhooks", "must be a list of [[webhooks]] tables")
            return ()
        result: list[Webhook] = []
        seen: set[str] = set()
        for index, item in enumerate(raw):
            path = f"webhooks[{index}]"
            if not isinstance(item, Mapping):
                self.problem(path, "must be a table")
                continue
            self.known(item, path, ("url", "secret", "events"))
            url = self.string(item, "url", f"{path}.url")
            why = valid_url(url) if url else None
            if why:
                self.problem(f"{path}.url", why)
            elif url in seen:
                self.problem(f"{path}.url", f"receiver {shown_url(url)} is listed twice")
            seen.add(url)
            secret = item.get("secret")
            if not isinstance(secret, str) or not secret.strip():
                self.problem(f"{path}.secret", "must be a non-empty string (the key that signs every body)")
                secret = ""
            events = item.get("events", [ALL])
            if not isinstance(events, list) or not events:
                self.problem(f"{path}.events", 'must list event types, or ["*"] for all')
                events = []
            for nth, kind in enumerate(events):
                if kind != ALL and kind not in EVENT_TYPES:
                    self.problem(
                        f"{path}.events",
                        f"unknown event type {kind!r} (item {nth + 1}); known: {', '.join(sorted(EVENT_TYPES))}",
                    )
            result.append(Webhook(url=url, secret=secret, events=tuple(str(e) for e in events)))
        return tuple(result)

    def sms(self, raw: Mapping[str, Any], languages: list[str]) -> Sms | None:  # noqa: C901 — a section's schema: one check per rule, each with its own message and line
        """``[sms]``: the hall's gateway. ``enabled = false`` (or no ``url``) turns it off.
        A problem never quotes a secret, and shows a URL without its credentials or query."""
        from server.sms_rules import BODY_FIELDS, DEFAULT_TEXTS, KINDS, TEXT_FIELDS, placeholders
        from server.webhook_rules import valid_url

        keys = (
            "enabled",
            "url",
            "method",
            "content_type",
            "body",
            "signature_header",
            "secret_env",
            "ahead",
            "timeout_s",
            "text",
        )
        self.known(raw, "sms", keys)
        enabled = raw.get("enabled", True)
        if not isinstance(enabled, bool):
            self.problem("sms.enabled", "must be true or false")
        url = raw.get("url", "")
        if not isinstance(url, str):
            self.problem("sms.url", "must be the gateway's http:// or https:// URL")
            url = ""
        if url and (why := valid_url(url)):
            self.problem("sms.url", why)
        method = raw.get("method", "POST")
        if method not in ("POST", "PUT"):
            self.problem("sms.method", 'must be "POST" or "PUT"')
        content_type = self.string(raw, "content_type", "sms.content_type", "application/json")
        body = self.string(raw, "body", "sms.body", Sms.body)
        used = placeholders(body)
        for name in used:
            if name not in BODY_FIELDS:
                self.problem("sms.body", f"unknown placeholder {{{name}}}; known: {', '.join(BODY_FIELDS)}")
        if body and "phone" not in used:
            self.problem("sms.body", "must send the number: put {phone} where the gateway expects it")
        if body and "text" not in used:
            self.problem("sms.body", "must send the message: put {text} where the gateway expects it")
        header = self.string(raw, "signature_header", "sms.signature_header", "X-Hallq-Signature")
        if header and not re.match(r"^[A-Za-z0-9-]{1,64}$", header):
            self.problem("sms.signature_header", "must be a header name: letters, digits and '-'")
        secret_env = self.string(raw, "secret_env", "sms.secret_env", "HALLQ_SMS_SECRET")
        if secret_env and not re.match(r"^[A-Z_][A-Z0-9_]{0,63}$", secret_env):
            self.problem(
                "sms.secret_env",
                "must be an environment variable's name, e.g. HALLQ_SMS_SECRET "
                "(the secret itself never goes in the hall file)",
            )
        ahead = self.integer(raw, "ahead", "sms.ahead", 3, 0, 50)
        timeout = raw.get("timeout_s", 5)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0.1 <= timeout <= 60:
            self.problem("sms.timeout_s", "must be a number of seconds from 0.1 to 60")
            timeout = 5
        texts_raw = self.table(raw, "text", "sms.text")
        self.known(texts_raw, "sms.text", KINDS)
        texts: dict[str, dict[str, str]] = {}
        for kind in KINDS:
            words = self.table(texts_raw, kind, f"sms.text.{kind}")
            chosen = dict(DEFAULT_TEXTS[kind])
            for lang, text in words.items():
                where = f"sms.text.{kind}.{lang}"
                if not isinstance(text, str) or not text.strip():
                    self.problem(where, "must be a non-empty string")
                    continue
                for name in placeholders(text):
                    if name not in TEXT_FIELDS:
                        self.problem(where, f"unknown placeholder {{{name}}}; known: {', '.join(TEXT_FIELDS)}")
                chosen[str(lang)] = text
            for lang in languages:
                if lang not in chosen:
                    self.problem(f"sms.text.{kind}", f"has no text in {lang!r}")
            texts[kind] = chosen
        if enabled is not True or not url:
            return None  # off (pointed at nothing): checked all the same, so turning it on holds no surprise
        return Sms(
            url=url,
            method=str(method),
            content_type=content_type,
            body=body,
            signature_header=header,
            secret_env=secret_env,
            ahead=ahead,
            texts=texts,
            timeout_s=float(timeout),
        )

    def rules(self, raw: Mapping[str, Any], languages: list[str]) -> Rules:
        self.known(raw, "rules", ("no_show", "announce", "min_call_interval_s", "windows_per_clerk"))
        windows_per_clerk = self.integer(raw, "windows_per_clerk", "rules.windows_per_clerk", 1, 1, 500)
        no_show_raw = self.table(raw, "no_show", "rules.no_show")
        self.known(no_show_raw, "rules.no_show", ("places_back", "move_back", "max_times", "min_seconds_after_call"))
        places_key = "move_back" if "move_back" in no_show_raw and "places_back" not in no_show_raw else "places_back"
        no_show = NoShowRules(
            places_back=self.integer(no_show_raw, places_key, f"rules.no_show.{places_key}", 3, 0, 50),
            max_times=self.integer(no_show_raw, "max_times", "rules.no_show.max_times", 2, 0, 10),
            min_seconds_after_call=self.integer(
                no_show_raw, "min_seconds_after_call", "rules.no_show.min_seconds_after_call", 15, 0, 600
            ),
        )
        announce_raw = self.table(raw, "announce", "rules.announce")
        self.known(announce_raw, "rules.announce", ("repeat", "templates", "voices"))
        templates_raw = self.table(announce_raw, "templates", "rules.announce.templates")
        voices_raw = self.table(announce_raw, "voices", "rules.announce.voices")
        templates = {**DEFAULT_TEMPLATES, **{k: v for k, v in templates_raw.items() if isinstance(v, str)}}
        voices = {**DEFAULT_VOICES, **{k: v for k, v in voices_raw.items() if isinstance(v, str)}}
        for lang in languages:
            template = templates.get(lang)
            path = f"rules.announce.templates.{lang}"
            if template is None:
                self.problem(path, f"no announcement template for language {lang!r}")
            elif "{number}" not in template or "{window}" not in template:
                self.problem(path, "must contain {number} and {window}")
            else:
                try:
                    template.format(number="A001", window="1")
                except (KeyError, IndexError, ValueError):
                    self.problem(path, "may use only {number} and {window}")
            if lang not in voices:
                self.problem(f"rules.announce.voices.{lang}", f"no voice for language {lang!r}")
        announce = AnnounceRules(
            repeat=self.integer(announce_raw, "repeat", "rules.announce.repeat", 2, 1, 5),
            templates=templates,
            voices=voices,
        )
        min_call_interval_s = self.integer(raw, "min_call_interval_s", "rules.min_call_interval_s", 3, 0, 60)
        return Rules(
            no_show=no_show,
            announce=announce,
            min_call_interval_s=min_call_interval_s,
            windows_per_clerk=windows_per_clerk,
        )


DEFAULT_TEMPLATES = {
    "zh": "请{number}号到{window}号窗口办理",
    "en": "Number {number}, please go to window {window}",
}
DEFAULT_VOICES = {"zh": "cmn", "en": "en"}


#: Between the hall file's text and its staff overlay's in ``Hall.source_text`` (which the
#: config hash covers, so a staff change is a config change every worker picks up).
OVERLAY_MARK = "\n# --- staff overlay (written by the manager page) ---\n"


def parse_hall(text: str, overlay: str | None = None) -> Hall:
    """Parse and validate hall-file text, with the staff ``overlay``'s text merged in
    (:mod:`server.staff_overlay`); raise :class:`ConfigError` listing every mistake."""
    try:
        root = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"at line (\d+)", str(exc))
        raise ConfigError([ConfigProblem("(file)", str(exc), int(match.group(1)) if match else None)]) from exc
    overlay_problems: list[ConfigProblem] = []
    if overlay is not None:
        root, overlay_problems = staff_overlay.merge(root, overlay)
    parser = _Parser(text)
    hall = parser.hall(root)
    if hall is None or overlay_problems:
        raise ConfigError([*overlay_problems, *parser.problems])
    if overlay is not None:
        hall = dataclasses.replace(hall, source_text=text + OVERLAY_MARK + overlay)
    return hall


def read_text(path: str | Path) -> str:
    """A hall file's text (UTF-8; a byte-order mark, as Windows editors write, is fine)."""
    raw = Path(path).read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            [ConfigProblem("(file)", f"is not UTF-8 text (byte {exc.start + 1}); save it as UTF-8", line)]
        ) from exc


def load_hall(path: str | Path) -> Hall:
    """Read and validate a hall file, with its staff overlay (``hall.staff.toml`` beside it)
    when there is one."""
    overlay = staff_overlay.read_text(staff_overlay.beside(path))
    return dataclasses.replace(parse_hall(read_text(path), overlay), source_path=str(path))


def demo_text() -> str:
    """The bundled demo hall file's text."""
    return resources.files("server").joinpath("demo_hall.toml").read_text(encoding="utf-8")


def load_demo(data_dir: str | Path | None = None) -> Hall:
    """The bundled demo hall of CONTRACT.md, with the staff overlay in ``data_dir`` if any."""
    overlay = staff_overlay.read_text(Path(data_dir) / staff_overlay.DEMO_FILE) if data_dir is not None else None
    return parse_hall(demo_text(), overlay)
