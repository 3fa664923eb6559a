"""What every section of the hall file shares: strict types, unknown keys refused, and every
error said in hall words with its key path.

pydantic reports every error at once with its ``loc``; a :class:`Section` turns each one into
our sentence on its way out (``unknown key 'x'; expected one of …``, ``must be true or
false`` …), and a field that knows better says its own (:func:`said`). Rules that look at
other parts of the file (a window's services exist, a name in every language) read them from
:class:`Known`, computed from the raw file before validation, so a mistake in one section never
hides those of another.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, WrapValidator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

#: The error type of every sentence of ours (pydantic's own types are translated into it).
HALL = "hall"
LANG_RE = re.compile(r"^[a-z]{2,3}$")

Loc = tuple[str | int, ...]
Message = str | Callable[[Any], str]

# pydantic's error types, said for a hall file (a field may say better with `said`)
_SENTENCES = {
    "missing": "is required",
    "model_type": "must be a table",
    "model_attributes_type": "must be a table",
    "dict_type": "must be a table",
    "list_type": "must be a list",
    "string_type": "must be a non-empty string",
    "int_type": "must be a whole number",
    "bool_type": "must be true or false",
    "float_type": "must be a number",
    "too_short": "must not be empty",
    "greater_than": "must be above {gt}",
    "greater_than_equal": "must be at least {ge}",
    "less_than": "must be below {lt}",
    "less_than_equal": "must be at most {le}",
}


def fail(*problems: tuple[Loc, str]) -> ValidationError:
    """A validation error holding our ``problems`` (each a location below the value being
    validated, and its sentence): ``raise fail(((), "must be …"))``."""
    return ValidationError.from_exception_data(HALL, [_detail(loc, message) for loc, message in problems])


def _detail(loc: Loc, message: str) -> InitErrorDetails:
    # no context: the sentence is final, braces and all ("must contain {number} and {window}")
    return InitErrorDetails(type=PydanticCustomError(HALL, message), loc=loc, input=None)


def _sentence(error: Mapping[str, Any], keys: Sequence[str], unknown: str | None) -> str:
    kind = str(error["type"])
    if kind == HALL:
        return str(error["msg"])
    if kind == "extra_forbidden" and len(error["loc"]) == 1:
        key = error["loc"][0]
        return unknown or f"unknown key {key!r}; expected one of {', '.join(keys)}"
    if kind == "literal_error":
        return f"must be {error.get('ctx', {}).get('expected', 'one of the values listed')}"
    if kind in _SENTENCES:
        return _SENTENCES[kind].format(**error.get("ctx", {}))
    return str(error["msg"])  # a type no field meets today; pydantic's words rather than none


def said(message: Message) -> WrapValidator:
    """A field's own sentence for any mistake in its value itself (its type, its bounds);
    mistakes deeper inside (an item of a list, a name of a table) keep theirs.
    ``message`` may be a function of the value, to quote it."""

    def check(value: Any, handler: Callable[[Any], Any]) -> Any:
        try:
            return handler(value)
        except ValidationError as exc:
            text = message(value) if callable(message) else message
            raise _rewritten(exc.errors(), lambda e: text if not e["loc"] else None) from None

    return WrapValidator(check)


def _rewritten(errors: Iterable[Mapping[str, Any]], say: Callable[[Mapping[str, Any]], str | None]) -> ValidationError:
    details, seen = [], set()
    for error in errors:
        text = say(error) or _sentence(error, (), None)
        if (error["loc"], text) not in seen:  # the same sentence once per place (a union's branches)
            seen.add((error["loc"], text))
            details.append(_detail(tuple(error["loc"]), text))
    return ValidationError.from_exception_data(HALL, details)


def collecting(extra: Callable[[Any], list[tuple[Loc, str]]]) -> WrapValidator:
    """A validator that adds ``extra(raw value)``'s problems (duplicates across the items of a
    list, say) to those of the value's own validation, so neither hides the other."""

    def check(value: Any, handler: Callable[[Any], Any]) -> Any:
        errors: list[Mapping[str, Any]] = []
        result = None
        try:
            result = handler(value)
        except ValidationError as exc:
            errors = list(exc.errors())
        more = extra(value)
        if errors or more:
            both = [*errors, *({"loc": loc, "type": HALL, "msg": text} for loc, text in more)]
            raise _rewritten(both, lambda e: None) from None
        return result

    return WrapValidator(check)


def duplicates(
    key: str, message: str, valid: Callable[[Any], object] = bool, normal: Callable[[Any], Any] = lambda v: v
) -> Callable[[Any], list[tuple[Loc, str]]]:
    """For :func:`collecting`: the problems of a list of tables whose ``key`` (made
    ``normal``) repeats, ``message`` formatted with the value; values that are not ``valid``
    strings have a problem of their own and are left out."""

    def find(tables: Any) -> list[tuple[Loc, str]]:
        seen: set[str] = set()
        found: list[tuple[Loc, str]] = []
        for index, table in enumerate(tables if isinstance(tables, list) else []):
            value = normal(table.get(key)) if isinstance(table, Mapping) else None
            if not isinstance(value, str) or not valid(value):
                continue
            if value in seen:
                found.append(((index, key), message.format(value)))
            seen.add(value)
        return found

    return find


class Section(BaseModel):
    """A table of the hall file: strict TOML types, no unknown key, every error in our words."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
    #: the sentence for an unknown key, when "unknown key …; expected one of …" is not the best
    unknown_key: ClassVar[str | None] = None

    @model_validator(mode="wrap")
    @classmethod
    def _in_hall_words(cls, data: Any, handler: Callable[[Any], Any]) -> Any:
        try:
            return handler(data)
        except ValidationError as exc:
            keys = [field.alias or name for name, field in cls.model_fields.items()]
            raise _rewritten(exc.errors(), lambda e: _sentence(e, keys, cls.unknown_key)) from None


@dataclass(frozen=True)
class Known:
    """What a section's rules need from the rest of the file, read from the raw TOML (so they
    hold whether or not that part is valid): the hall's languages (well-formed codes only),
    the service ids named by ``[[services]]``, the ones some window lists and the window ids
    (a number written ``id = 3`` is the id "3")."""

    languages: tuple[str, ...] = ()
    service_ids: tuple[str, ...] = ()
    served: frozenset[str] = frozenset()
    window_ids: frozenset[str] = frozenset()

    @classmethod
    def of(cls, root: Mapping[str, Any]) -> Known:
        hall = root.get("hall", {})
        languages = hall.get("languages", ["zh", "en"]) if isinstance(hall, Mapping) else []
        services = root.get("services")
        windows = root.get("windows")
        served: set[str] = set()
        window_ids: set[str] = set()
        for window in windows if isinstance(windows, list) else []:
            number = window.get("id") if isinstance(window, Mapping) else None
            if isinstance(number, str | int) and not isinstance(number, bool):
                window_ids.add(str(number))
            tiers = window.get("tiers", [window.get("services")]) if isinstance(window, Mapping) else []
            for tier in tiers if isinstance(tiers, list) else []:
                if isinstance(tier, list):
                    served.update(s for s in tier if isinstance(s, str))
        return cls(
            languages=tuple(x for x in languages if isinstance(x, str) and LANG_RE.fullmatch(x))
            if isinstance(languages, list)
            else (),
            service_ids=tuple(
                s["id"] for s in services if isinstance(s, Mapping) and isinstance(s.get("id"), str) and s["id"]
            )
            if isinstance(services, list)
            else (),
            served=frozenset(served),
            window_ids=frozenset(window_ids),
        )


def known(info: ValidationInfo) -> Known:
    """The :class:`Known` of the file being validated (empty when validated on its own)."""
    return info.context if isinstance(info.context, Known) else Known()


def in_every_language(name: dict[str, str], info: ValidationInfo) -> dict[str, str]:
    """``name`` unchanged when it has a text in each of the hall's languages (kiosks, screens
    and calls say the hall and its services in each); else a problem per language missing."""
    missing = [lang for lang in known(info).languages if lang not in name]
    if missing:
        raise fail(*(((), f"has no name in {lang!r}") for lang in missing))
    return name
