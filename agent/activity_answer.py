"""What ``POST /activity`` answers: how many minutes were accepted, which were refused and why.

The server stores every valid sample and lists each refused one by index
(``{"accepted": N, "refused": [{"index", "field", "message"}]}``); a whole-body problem is a 400
naming the field(s), raised as :class:`BatchRefused`. Older servers refused a whole batch for one
bad sample, naming it ``samples[i].<field>``: :meth:`BatchRefused.sample_reasons` reads those.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from contract.errors import PermanentError

_SAMPLE_FIELD = re.compile(r"^samples\[(\d{1,6})\](?:\.|\Z)")
MAX_REASON_CHARACTERS = 200


@dataclass(frozen=True, slots=True)
class Refusal:
    """One refused sample: its index in the batch sent, the field to blame and the server's message."""

    index: int
    field: str
    message: str

    @property
    def reason(self) -> str:
        """``"samples[i].minute_start is more than 30 days old"`` without the index (it is per batch)."""
        field = _SAMPLE_FIELD.sub("", self.field)
        text = self.message if field in ("", "sample") else f"{field} {self.message}"
        return text[:MAX_REASON_CHARACTERS]


@dataclass(frozen=True, slots=True)
class ActivityAnswer:
    """The answer to one ``POST /activity``: the count stored and the samples refused."""

    accepted: int
    refused: tuple[Refusal, ...] = ()

    @classmethod
    def from_json(cls, body: Any, sent: int) -> ActivityAnswer:
        """Read an answer to ``sent`` samples; entries that name no sample of the batch are ignored."""
        if not isinstance(body, Mapping):
            return cls(sent)
        refused: dict[int, Refusal] = {}
        raw_refused = body.get("refused")
        for entry in raw_refused if isinstance(raw_refused, list) else []:
            if not isinstance(entry, Mapping):
                continue
            index = entry.get("index")
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < sent:
                continue
            field = str(entry.get("field") or f"samples[{index}]")[:MAX_REASON_CHARACTERS]
            message = str(entry.get("message") or "refused")[:MAX_REASON_CHARACTERS]
            refused.setdefault(index, Refusal(index, field, message))
        accepted = body.get("accepted")
        if isinstance(accepted, bool) or not isinstance(accepted, int):
            accepted = sent - len(refused)
        return cls(max(0, accepted), tuple(refused[index] for index in sorted(refused)))


class BatchRefused(PermanentError):
    """``POST /activity`` refused the whole batch (400); ``fields`` maps each field the server blamed."""

    def __init__(self, message: str, fields: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields = dict(fields or {})

    def sample_refusals(self, sent: int) -> tuple[Refusal, ...] | None:
        """The samples to blame when every named field is a sample of the batch; None otherwise.

        None means the body itself (``device``, ``agent``, ``samples``) or something unnamed is wrong.
        """
        if not self.fields:
            return None
        refusals: dict[int, Refusal] = {}
        for field, message in self.fields.items():
            match = _SAMPLE_FIELD.match(field)
            if match is None or int(match.group(1)) >= sent:
                return None
            index = int(match.group(1))
            refusals.setdefault(index, Refusal(index, field, str(message)))
        return tuple(refusals[index] for index in sorted(refusals))
