"""``[[staff]]``: who may log in, in which role, with which PIN hash."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from server import hall_model as model
from server.hall_schema.base import Section, collecting, duplicates, fail, known, said
from server.hall_schema.fields import Flag, Text
from server.pins import valid_pin_hash

ROLES = ("clerk", "desk", "admin")
_NOT_A_HASH = "must be a scrypt hash made by `hallq hash-pin`"


def _pin_hash(value: str) -> str:
    if not valid_pin_hash(value):
        raise fail(((), _NOT_A_HASH))
    return value


class StaffEntry(Section):
    """A ``[[staff]]`` table (the manager page's overlay merged in: :mod:`server.staff_overlay`)."""

    id: Text
    name: Text
    role: Annotated[Literal["clerk", "desk", "admin"], said(f"must be one of {', '.join(ROLES)}")] = Field(
        default=None, validate_default=True
    )
    pin_hash: Annotated[str, said(_NOT_A_HASH), AfterValidator(_pin_hash)] = Field(
        default=None, validate_default=True, repr=False
    )
    pin: Any = Field(default=None, repr=False)  # only to refuse it: see _never_in_clear
    disabled: Annotated[bool, Flag(quote=False)] = False
    #: the windows this staff member may serve; left out: any window
    windows: Annotated[list[str], said('must be a list of window ids such as ["1", "2"]')] | None = None

    @field_validator("windows")
    @classmethod
    def _known_windows(cls, windows: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if windows is None:
            return None
        if not windows:
            raise fail(((), "must list at least one window (leave the key out for any window)"))
        ids = known(info).window_ids
        problems = [((), f"unknown window {w!r}") for w in dict.fromkeys(windows) if w not in ids]
        problems += [((), f"window {w!r} listed twice") for w in dict.fromkeys(windows) if windows.count(w) > 1]
        if problems:
            raise fail(*problems)
        return windows

    @field_validator("pin")
    @classmethod
    def _never_in_clear(cls, _pin: Any) -> None:
        raise fail(((), "a PIN is never stored in clear: use pin_hash (hallq hash-pin)"))

    def build(self) -> model.Staff:
        """The staff member as the code sees it."""
        fields = self.model_dump(exclude={"pin", "windows"})
        return model.Staff(**fields, windows=None if self.windows is None else tuple(self.windows))


StaffList = Annotated[
    list[StaffEntry],
    said("must be a list of [[staff]] tables"),
    collecting(duplicates("id", "duplicate staff id {!r}")),
]
