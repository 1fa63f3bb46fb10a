"""The mapping file's ``alerts:`` section: where alerts go besides the task log.

Only Airflow connection ids are named here, never a host, password or webhook URL: those
stay in Airflow's connection store, where they are masked and can be rotated without touching the file.
Parsed at DAG parse time, so this module imports pydantic only.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, field_validator

DEFAULT_TOKEN_SHARE = 0.8
_ADDRESS = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _address(value: str) -> str:
    if not _ADDRESS.match(value):
        raise ValueError(f"{value!r} is not a mail address; write a plain address like ops@example.com")
    return value


Address = Annotated[str, AfterValidator(_address)]


def _conn_id(value: str, what: str, example: str) -> str:
    if not value:
        raise ValueError(f"name the Airflow connection of the {what}, e.g. conn_id: {example}")
    return value


class EmailSettings(_Strict):
    """Mail through an SMTP connection (the smtp provider's connection type: host, port, login, password)."""

    conn_id: str
    to: list[Address]
    from_email: Address | None = None  # default: the connection's extra ``from_email``

    @field_validator("conn_id")
    @classmethod
    def _conn(cls, value: str) -> str:
        return _conn_id(value, "SMTP server", "smtp_alerts")

    @field_validator("to", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError(
                "list at least one address to mail alerts to, e.g. to: [finance-ops@example.com]"
            )
        return value


class WebhookSettings(_Strict):
    """A Slack-compatible incoming webhook behind an HTTP connection (see ``notifiers.webhook_url``)."""

    conn_id: str

    @field_validator("conn_id")
    @classmethod
    def _conn(cls, value: str) -> str:
        return _conn_id(value, "webhook", "slack_alerts")


class AlertSettings(_Strict):
    """Channels (none: alerts are log lines only) and the daily token share that raises an alert."""

    email: EmailSettings | None = None
    webhook: WebhookSettings | None = None
    token_share: float = DEFAULT_TOKEN_SHARE

    @field_validator("token_share")
    @classmethod
    def _share(cls, value: float) -> float:
        if not 0 < value <= 1:
            raise ValueError(
                f"{value} is not a share of the daily token budget; give a number above 0 and at most 1, "
                "e.g. 0.8 to be told when a day has used 80%"
            )
        return value
