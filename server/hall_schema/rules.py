"""``[rules]``: no-shows, announcements, the pause between calls, windows per clerk."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, ValidationInfo, model_validator

from server.hall_model import AnnounceRules, NoShowRules
from server.hall_model import Rules as RulesModel
from server.hall_schema.base import Loc, Section, fail, known
from server.hall_schema.fields import Whole

DEFAULT_TEMPLATES = {
    "zh": "请{number}号到{window}号窗口办理",
    "en": "Number {number}, please go to window {window}",
}
DEFAULT_VOICES = {"zh": "cmn", "en": "en"}


class NoShow(Section):
    """``[rules.no_show]`` (过号): ``places_back`` (the older ``move_back`` is read as the same
    when ``places_back`` is not given)."""

    places_back: Annotated[int, Whole(0, 50)] | None = None
    move_back: Annotated[int, Whole(0, 50)] | None = None
    max_times: Annotated[int, Whole(0, 10)] = 2
    min_seconds_after_call: Annotated[int, Whole(0, 600)] = 15

    def build(self) -> NoShowRules:
        places = self.places_back if self.places_back is not None else self.move_back
        return NoShowRules(
            places_back=3 if places is None else places,
            max_times=self.max_times,
            min_seconds_after_call=self.min_seconds_after_call,
        )


def _template_problem(template: str | None, lang: str) -> str | None:
    if template is None:
        return f"no announcement template for language {lang!r}"
    if "{number}" not in template or "{window}" not in template:
        return "must contain {number} and {window}"
    try:
        template.format(number="A001", window="1")
    except (KeyError, IndexError, ValueError):
        return "may use only {number} and {window}"
    return None


class Announce(Section):
    """``[rules.announce]``: how often a call is said, and what and in which voice per language
    (the defaults cover zh and en; every language of the hall needs both)."""

    repeat: Annotated[int, Whole(1, 5)] = 2
    templates: dict[str, str] = {}  # noqa: RUF012 — a pydantic default is copied, never shared
    voices: dict[str, str] = {}  # noqa: RUF012

    @model_validator(mode="after")
    def _every_language(self, info: ValidationInfo) -> Announce:
        templates, voices = self.merged()
        problems: list[tuple[Loc, str]] = []
        for lang in known(info).languages:
            if why := _template_problem(templates.get(lang), lang):
                problems.append((("templates", lang), why))
            if lang not in voices:
                problems.append((("voices", lang), f"no voice for language {lang!r}"))
        if problems:
            raise fail(*problems)
        return self

    def merged(self) -> tuple[dict[str, str], dict[str, str]]:
        """The templates and voices, the file's over the defaults."""
        return {**DEFAULT_TEMPLATES, **self.templates}, {**DEFAULT_VOICES, **self.voices}


class Rules(Section):
    """``[rules]``."""

    no_show: NoShow = NoShow()
    # validated even when absent: the hall's languages need their templates and voices
    announce: Announce = Field(default={}, validate_default=True)
    min_call_interval_s: Annotated[int, Whole(0, 60)] = 3
    windows_per_clerk: Annotated[int, Whole(1, 500)] = 1

    def build(self) -> RulesModel:
        templates, voices = self.announce.merged()
        return RulesModel(
            no_show=self.no_show.build(),
            announce=AnnounceRules(repeat=self.announce.repeat, templates=templates, voices=voices),
            min_call_interval_s=self.min_call_interval_s,
            windows_per_clerk=self.windows_per_clerk,
        )
