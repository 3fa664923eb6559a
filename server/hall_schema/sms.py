"""``[sms]``: the hall's own text-message gateway (see :mod:`server.sms`).

``enabled = false`` (or no ``url``) turns it off, and it is checked all the same, so turning it
on holds no surprise. No sentence quotes a secret, nor a URL's credentials or query.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from annotated_types import Ge, Le
from pydantic import AfterValidator, Field, ValidationInfo, model_validator

from server.hall_model import Sms as SmsModel
from server.hall_schema.base import Loc, Section, fail, known, said
from server.hall_schema.fields import Flag, Matching, Text, Whole
from server.sms_rules import BODY_FIELDS, DEFAULT_TEXTS, KINDS, TEXT_FIELDS, placeholders
from server.webhook_rules import valid_url


def _unknown(template: str, fields: Sequence[str]) -> list[tuple[Loc, str]]:
    return [
        ((), f"unknown placeholder {{{name}}}; known: {', '.join(fields)}")
        for name in placeholders(template)
        if name not in fields
    ]


def _body(body: str) -> str:
    problems = _unknown(body, BODY_FIELDS)
    used = placeholders(body)
    if "phone" not in used:
        problems.append(((), "must send the number: put {phone} where the gateway expects it"))
    if "text" not in used:
        problems.append(((), "must send the message: put {text} where the gateway expects it"))
    if problems:
        raise fail(*problems)
    return body


def _message(text: str) -> str:
    if problems := _unknown(text, TEXT_FIELDS):
        raise fail(*problems)
    return text


def _gateway(url: str) -> str:
    if url and (why := valid_url(url)):
        raise fail(((), why))
    return url


_HEADER = "must be a header name: letters, digits and '-'"
_ENV = "must be an environment variable's name, e.g. HALLQ_SMS_SECRET (the secret itself never goes in the hall file)"

#: A message's words per language, ``{ zh = "…{number}…" }``.
Words = dict[str, Annotated[Text, AfterValidator(_message)]]


class Texts(Section):
    """``[sms.text]``: the words of each message, over the defaults of :mod:`server.sms_rules`
    (one field per message of ``sms_rules.KINDS``)."""

    ahead: Words = {}  # noqa: RUF012 — a pydantic default is copied, never shared
    called: Words = {}  # noqa: RUF012

    @model_validator(mode="after")
    def _every_language(self, info: ValidationInfo) -> Texts:
        missing = [
            ((kind,), f"has no text in {lang!r}")
            for kind, words in self.merged().items()
            for lang in known(info).languages
            if lang not in words
        ]
        if missing:
            raise fail(*missing)
        return self

    def merged(self) -> dict[str, dict[str, str]]:
        """Each message's words, the file's over the defaults."""
        return {kind: {**DEFAULT_TEXTS[kind], **getattr(self, kind)} for kind in KINDS}


class Sms(Section):
    """``[sms]``."""

    enabled: Annotated[bool, Flag(quote=False)] = True
    url: Annotated[str, said("must be the gateway's http:// or https:// URL"), AfterValidator(_gateway)] = ""
    method: Annotated[Literal["POST", "PUT"], said('must be "POST" or "PUT"')] = "POST"
    content_type: Text = "application/json"
    body: Annotated[Text, AfterValidator(_body)] = SmsModel.body
    signature_header: Annotated[str, Matching(r"[A-Za-z0-9-]{1,64}", _HEADER)] = "X-Hallq-Signature"
    secret_env: Annotated[str, Matching(r"[A-Z_][A-Z0-9_]{0,63}", _ENV)] = "HALLQ_SMS_SECRET"
    ahead: Annotated[int, Whole(0, 50)] = 3
    timeout_s: Annotated[float, Ge(0.1), Le(60), said("must be a number of seconds from 0.1 to 60")] = 5.0
    # validated even when absent: the hall's languages need their words
    text: Texts = Field(default={}, validate_default=True)

    def build(self) -> SmsModel | None:
        """The gateway, or None when it is off (or pointed at nothing)."""
        if not self.enabled or not self.url:
            return None
        return SmsModel(
            url=self.url,
            method=self.method,
            content_type=self.content_type,
            body=self.body,
            signature_header=self.signature_header,
            secret_env=self.secret_env,
            ahead=self.ahead,
            texts=self.text.merged(),
            timeout_s=self.timeout_s,
        )
