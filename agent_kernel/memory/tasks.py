"""Tasks: a plan of steps with their status, kept in the store so a later session continues.

A task is open while any step is todo or doing; `%%agent continue` picks the newest open task
of the project (from any session) and resumes at its first open step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent_kernel.events import new_id
from agent_kernel.memory.sessions import now
from agent_kernel.memory.store import Store

STATUSES = ("todo", "doing", "done", "failed")
MARKS = {"todo": "☐", "doing": "▶", "done": "☑", "failed": "✗"}


@dataclass(frozen=True)
class TaskStep:
    position: int
    text: str
    status: str
    note: str


@dataclass(frozen=True)
class Task:
    id: str
    title: str
    steps: list[TaskStep]

    @property
    def next_step(self) -> TaskStep | None:
        return next((s for s in self.steps if s.status in ("todo", "doing")), None)

    def render(self) -> str:
        """The plan as the model and the user read it."""
        lines = [f"Task {self.id}: {self.title}"]
        for step in self.steps:
            note = f" ({step.note})" if step.note else ""
            lines.append(f"{MARKS[step.status]} {step.position}. [{step.status}] {step.text}{note}")
        return "\n".join(lines)


class TaskLog:
    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, session_id: str | None, title: str, steps: list[str]) -> Task:
        task_id = new_id("task_")
        stamp = now()
        statements: list[Any] = [
            ("INSERT INTO tasks VALUES (?, ?, ?, ?)", [task_id, session_id, title, stamp])
        ]
        statements += [
            ("INSERT INTO task_steps VALUES (?, ?, ?, 'todo', '', ?)", [task_id, i, text, stamp])
            for i, text in enumerate(steps, start=1)
        ]
        self.store.write(statements)
        return self.get(task_id)

    def update(self, task_id: str, position: int, status: str, note: str = "") -> Task:
        task = self.get(task_id)
        if not 1 <= position <= len(task.steps):
            raise ValueError(f"step {position} is not in the plan (it has {len(task.steps)})")
        self.store.write(
            [
                (
                    "UPDATE task_steps SET status = ?, note = ?, updated = ? "
                    "WHERE task_id = ? AND position = ?",
                    [status, note, now(), task_id, position],
                )
            ]
        )
        return self.get(task_id)

    def get(self, task_id: str) -> Task:
        title = self.store.query("SELECT title FROM tasks WHERE id = ?", [task_id])
        rows = self.store.query(
            "SELECT position, text, status, note FROM task_steps WHERE task_id = ? "
            "ORDER BY position",
            [task_id],
        )
        return Task(task_id, title[0][0], [TaskStep(*r) for r in rows])

    def latest_open(self, session_id: str | None = None) -> Task | None:
        """The newest task with a step left, in a session or in the whole project."""
        rows = self.store.query(
            "SELECT t.id FROM tasks t WHERE EXISTS (SELECT 1 FROM task_steps s "
            "WHERE s.task_id = t.id AND s.status IN ('todo', 'doing')) "
            "AND (CAST(? AS VARCHAR) IS NULL OR t.session_id = ?) ORDER BY t.created DESC LIMIT 1",
            [session_id, session_id],
        )
        return self.get(rows[0][0]) if rows else None

    def table(self) -> Any:
        return self.store.query_df(
            "SELECT t.id AS task, t.title, s.position AS step, s.text, s.status, s.note, "
            "s.updated, t.session_id AS session FROM tasks t JOIN task_steps s "
            "ON s.task_id = t.id ORDER BY t.created DESC, s.position"
        )
