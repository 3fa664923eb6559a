"""``[[staff]]``: who may log in, in which role, with which PIN hash."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator

from server.hall_schema.base import Section, collecting, duplicates, fail, said
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

    @field_validator("pin")
    @classmethod
    def _never_in_clear(cls, _pin: Any) -> None:
        raise fail(((), "a PIN is never stored in clear: use pin_hash (hallq hash-pin)"))


StaffList = Annotated[
    list[StaffEntry],
    said("must be a list of [[staff]] tables"),
    collecting(duplicates("id", "duplicate staff id {!r}")),
]
