"""What the post-renderer did, object by object: converted, renamed, generated, assumed, not carried over."""

from __future__ import annotations

import sys
from typing import Any, NamedTuple

ACTIONS = ("converted", "renamed", "updated", "generated", "not carried over")


# Neither is a dataclass: creating the two costs every start 0.8 ms, a post-render of one chart 1.5% (issue 33).
class Loss(NamedTuple):
    what: str
    why: str
    fix: str


_ACTIONS: dict[tuple[str, ...], tuple[str, ...]] = {}


class Entry:
    """Tuples, not lists: a stream has thousands of entries, most with one change and nothing else."""

    __slots__ = ("kind", "name", "namespace", "actions", "changes", "assumed", "not_carried_over")

    def __init__(self, kind: str, name: str, namespace: str | None) -> None:
        self.kind, self.name, self.namespace = kind, name, namespace
        self.actions: tuple[str, ...] = ()
        self.changes: tuple[str, ...] = ()
        self.assumed: tuple[str, ...] = ()
        self.not_carried_over: tuple[Loss, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "namespace": self.namespace,
            "actions": list(self.actions),
            "changes": list(self.changes),
            "assumed": list(self.assumed),
            "not_carried_over": [loss._asdict() for loss in self.not_carried_over],
        }

    def record(self, action: str, change: str) -> None:
        self._act(action)
        self.changes += (sys.intern(change),)  # the same change recurs (a health check's fix, a group): one copy

    def assume(self, *assumptions: str) -> None:
        self.assumed += assumptions

    def lose(self, *losses: Loss) -> None:
        if losses:
            self._act("not carried over")
        self.not_carried_over += losses

    def _act(self, action: str) -> None:
        if action not in self.actions:
            actions = self.actions + (action,)
            self.actions = _ACTIONS.setdefault(actions, actions)  # a few combinations, thousands of entries

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.namespace + '/' if self.namespace else ''}{self.name}"


class Report:
    def __init__(self) -> None:
        self._entries: dict[int, Entry] = {}
        self.notes: list[str] = []

    def entry(self, key: int, kind: str, name: str, namespace: str | None) -> Entry:
        """The entry of one object; `key` follows the object through renames (its document index)."""
        if key not in self._entries:
            self._entries[key] = Entry(kind, name, namespace)
        found = self._entries[key]
        found.kind, found.name, found.namespace = kind, name, namespace
        return found

    @property
    def entries(self) -> list[Entry]:
        return [self._entries[key] for key in sorted(self._entries)]

    def summary(self) -> dict[str, int]:
        """How many objects each action touched, and how many carry an assumption."""
        entries = self._entries.values()
        counts = {action: sum(action in entry.actions for entry in entries) for action in ACTIONS}
        counts["assumed"] = sum(bool(entry.assumed) for entry in entries)
        return counts

    def as_dict(self) -> dict[str, Any]:
        return {"summary": self.summary(), "objects": [entry.as_dict() for entry in self.entries], "notes": self.notes}

    def as_json(self) -> str:
        import json  # only for --report: start-up time (issue 33)

        return json.dumps(self.as_dict(), indent=2) + "\n"

    def as_text(self) -> str:
        """The short summary for people, on stderr."""
        lines = []
        entries = self.entries
        heads = [", ".join(entry.actions) or "checked" for entry in entries]
        width = max(map(len, heads), default=0)
        for head, entry in zip(heads, entries, strict=True):
            lines.append(f"{head:<{width}}  {entry.ref}")
            lines.extend(f"    - {change}" for change in entry.changes)
            lines.extend(f"    assumed: {assumption}" for assumption in entry.assumed)
            lines.extend(
                f"    NOT CARRIED OVER: {loss.what}: {loss.why} Fix: {loss.fix}" for loss in entry.not_carried_over
            )
        lines.extend(f"note: {note}" for note in self.notes)
        counts = self.summary()
        lines.append("infgw-postrender: " + ", ".join(f"{count} {action}" for action, count in counts.items()))
        return "\n".join(lines) + "\n"
