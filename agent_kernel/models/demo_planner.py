"""The demo model's planner: from a request and the tool results so far, the next step.

It recognises a handful of data-analysis requests (what data is there, describe a frame,
aggregate, plot, clean, remember, recall, search the project's files) and answers only from
what the tools returned. Anything else gets an honest "I can't do that offline" with how to
connect a real model. It reads the user's words and the tool results of the current turn;
it never follows instructions found inside data.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from agent_kernel.models.demo_fix import FIX_WORDS, fix_step
from agent_kernel.policy import spotlight

LABEL = '\n\n_— answered by the offline demo model (`%config Agent.model = "demo"`)_'
HELP = (
    "I'm the **offline demo model**, so I only understand a few kinds of requests: what data "
    "you have, describing a dataframe, which group is highest/lowest/largest by a column, "
    "plotting a column by a group, dropping rows with missing values, remembering a decision "
    "and recalling it, searching files learned with `%agent learn`, and fixing the last "
    "error when it is a misspelled column or name (`%agent fix`).\n\n"
    "For anything else, connect a real model: set `OPENAI_API_KEY`, or point at a local "
    'server such as Ollama with `%config Agent.base_url = "http://localhost:11434/v1"` '
    'and `%config Agent.model = "llama3.2"` (see `01-quickstart.ipynb`).'
)
SYNONYMS = {
    "heavy": ("mass", "weight"),
    "heaviest": ("mass", "weight"),
    "lightest": ("mass", "weight"),
    "weight": ("mass", "weight"),
    "long": ("length",),
    "longest": ("length",),
    "shortest": ("length",),
    "deep": ("depth",),
    "deepest": ("depth",),
    "sales": ("revenue", "sales", "amount"),
    "money": ("revenue", "amount", "price"),
    "biggest": ("mass", "size", "revenue", "amount"),
}
LOW_WORDS = ("lowest", "least", "smallest", "fewest", "lightest", "shortest", "cheapest")
_WORD = re.compile(r"[a-z0-9_]+")
DECISION_WORDS = r"decid|from now on|always|never|\bwe (will|use|drop|keep|exclude)\b"
PASSAGE = r"--- file:(\S+) ---\n\[[^\]]*\]\n(.*?)(?=\n--- file:|\Z)"
AVERAGE_WORDS = r"average|mean|heaviest|lightest|longest|shortest"


@dataclass
class Column:
    name: str
    numeric: bool
    top_values: list[str] = field(default_factory=list)


@dataclass
class Turn:
    """The current request and what the tools returned to it so far."""

    request: str
    results: list[tuple[str, dict[str, Any], str]]  # (tool, arguments, content)

    def result_of(self, tool: str) -> tuple[dict[str, Any], str] | None:
        for name, arguments, content in reversed(self.results):
            if name == tool:
                return arguments, content
        return None

    def called(self, tool: str) -> bool:
        return self.result_of(tool) is not None


@dataclass
class Step:
    """A tool call to make, or the answer to give."""

    tool: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)
    answer: str = ""


def current_turn(messages: list[dict[str, Any]]) -> Turn:
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    request = str(messages[last_user].get("content") or "") if last_user >= 0 else ""
    calls: dict[str, tuple[str, dict[str, Any]]] = {}
    results = []
    for message in messages[last_user + 1 :]:
        for call in message.get("tool_calls") or []:
            function = call["function"]
            try:
                arguments = json.loads(function.get("arguments") or "{}")
            except json.JSONDecodeError:
                arguments = {}
            calls[call["id"]] = (function["name"], arguments)
        if message.get("role") == "tool" and message.get("tool_call_id") in calls:
            name, arguments = calls[message["tool_call_id"]]
            results.append((name, arguments, spotlight.unwrap(str(message.get("content") or ""))))
    return Turn(request, results)


def plan(messages: list[dict[str, Any]], tools: set[str]) -> Step:
    """The next step for the conversation in `messages`."""
    turn = current_turn(messages)
    if re.search(FIX_WORDS, turn.request.lower()):
        return fix_step(turn, Step)  # it reads failed calls itself (an edit refused, say)
    failed = next(
        (
            r
            for r in turn.results
            # sql refusing a Dask frame is a step of the plan: the aggregate goes to Dask.
            if r[2].startswith("Error:") and "does not run on Dask frames" not in r[2]
        ),
        None,
    )
    if failed is not None:
        return Step(answer=f"The `{failed[0]}` step did not work: {failed[2][len('Error: ') :]}")
    text = turn.request.lower()
    for matches, handler in INTENTS:
        if re.search(matches, text):
            return handler(turn, text, tools)
    return Step(answer=HELP)


# -- intents ------------------------------------------------------------------------------


def _remember(turn: Turn, text: str, tools: set[str]) -> Step:
    done = turn.result_of("remember")
    if done is not None:
        return Step(answer=f"Noted. {done[1]} Later sessions can recall it.")
    statement = re.sub(
        r"^\s*(please\s+)?(remember( that)?|note( that)?|for the record,?)\s*:?\s*",
        "",
        turn.request.strip(),
        flags=re.IGNORECASE,
    )
    decided = re.search(DECISION_WORDS, text)
    kind = "decision" if decided else "fact"
    return Step("remember", {"text": statement.rstrip(".") + ".", "kind": kind})


def _recall(turn: Turn, text: str, tools: set[str]) -> Step:
    found = turn.result_of("recall")
    if found is None:
        return Step("recall", {"query": turn.request})
    lines = [ln[2:] for ln in found[1].splitlines() if ln.startswith("- [")]
    if not lines:
        return Step(answer="I found nothing about that in this project's memory.")
    # "[mem_…] text (project decision, from user…)": the text is what was asked about.
    texts = [re.sub(r" \([^()]*\)$", "", ln.split("] ", 1)[-1]) for ln in lines[:3]]
    items = "\n".join(f"- {t}" for t in texts)
    return Step(answer=f"Here is what this project's memory holds on that:\n\n{items}")


def _search(turn: Turn, text: str, tools: set[str]) -> Step:
    found = turn.result_of("search_project")
    if found is None:
        return Step("search_project", {"query": turn.request})
    passages = re.findall(
        r"--- file:(\S+) ---\n\[[^\]]*\]\n(.*?)(?=\n--- file:|\Z)", found[1], re.S
    )
    if not passages:
        return Step(answer="No learned file mentions that. Learn files with `%agent learn PATH`.")
    path, body = passages[0]
    quote = " ".join(body.split())[:300]
    return Step(answer=f"The closest passage is in `{path}`:\n\n> {quote}")


def _variables(turn: Turn, text: str, tools: set[str]) -> Step:
    found = turn.result_of("list_variables")
    if found is None:
        return Step("list_variables")
    rows = [ln for ln in found[1].splitlines() if ln.startswith("| ") and "---" not in ln][1:]
    names = []
    for row in rows:
        name, kind, size = (cell.strip() for cell in row.split("|")[1:4])
        names.append(f"{name} ({kind}{', ' + size if size else ''})")
    if not names:
        return Step(answer="Your namespace has no variables yet. Load some data first.")
    listing = "\n".join(f"- `{n}`" for n in names[:10])
    return Step(answer=f"{found[1].splitlines()[0]}\n\n{listing}")


def _describe(turn: Turn, text: str, tools: set[str]) -> Step:
    frame = _frame(turn, text)
    if isinstance(frame, Step):
        return frame
    found = turn.result_of("describe_dataframe")
    if found is None:
        return Step("describe_dataframe", {"name": frame})
    lines = found[1].splitlines()
    columns = [ln[2:] for ln in lines if ln.startswith("- ")]
    with_nulls = [c.split(":")[0] for c in columns if " null" in c and "no nulls" not in c]
    nulls = f" Columns with missing values: {', '.join(with_nulls)}." if with_nulls else ""
    return Step(answer=f"**{lines[0]}**.{nulls}\n\n" + "\n".join(f"- {c}" for c in columns))


def _aggregate(turn: Turn, text: str, tools: set[str]) -> Step:
    known = _frame_and_columns(turn, text)
    if isinstance(known, Step):
        return known
    frame, columns = known
    query = _query(frame, columns, text)
    if query is None:
        return Step(answer="I could not tell which column to compare. " + HELP)
    found = turn.result_of("sql")
    if found is None:
        return Step("sql", {"query": query})
    if "does not run on Dask frames" in found[1]:
        return _aggregate_with_dask(turn, frame, columns, text, query)
    rows = _table(found[1])
    if not rows:
        return Step(answer=f"The query returned no rows.\n\n```sql\n{query}\n```")
    (group, value), *rest = rows
    measure = found[1].splitlines()[0].split(": ", 1)[-1].split(",")[1].split()[0]
    runner_up = f", ahead of {rest[0][0]} ({rest[0][1]})" if rest else ""
    rank = "is lowest" if query.endswith(" ASC") else "comes first"
    answer = f"**{group}** {rank} by {in_words(measure)}: {value}{runner_up}."
    return Step(answer=f"{answer}\n\nThe query I ran:\n\n```sql\n{query}\n```")


def _aggregate_with_dask(
    turn: Turn, frame: str, columns: list[Column], text: str, query: str
) -> Step:
    """sql refuses Dask frames and names Dask's own API: the same aggregate, computed there."""
    match = re.match(r"SELECT (\w+), round\((\w+)\((\*|\w+)\), 2\) AS (\w+) ", query)
    if match is None:
        return Step(answer="Dask frames cannot be queried with SQL here. " + HELP)
    group, how, measure, name = match.groups()
    ascending = query.endswith(" ASC")
    if measure == "*":
        series = f"{frame}.groupby({group!r}).size()"
    else:
        series = f"{frame}.groupby({group!r})[{measure!r}].{'mean' if how == 'avg' else how}()"
    code = (
        f"{name} = {series}.compute().round(2).sort_values(ascending={ascending})\n{name}.head(10)"
    )
    found = turn.result_of("run_python")
    if found is None:
        return Step("run_python", {"code": code})
    rows = re.findall(r"^(\S+)\s+(-?[\d.]+)$", found[1], re.M)
    if not rows:
        return Step(
            answer=f"The computation returned nothing I can read.\n\n```python\n{code}\n```"
        )
    (first, value), *rest = rows
    runner_up = f", ahead of {rest[0][0]} ({rest[0][1]})" if rest else ""
    rank = "is lowest" if ascending else "comes first"
    return Step(
        answer=f"**{first}** {rank} by {in_words(name)}: {value}{runner_up}. Dask computed it on "
        f"its workers (SQL does not run on Dask frames):\n\n```python\n{code}\n```"
    )


def _plot(turn: Turn, text: str, tools: set[str]) -> Step:
    known = _frame_and_columns(turn, text)
    if isinstance(known, Step):
        return known
    frame, columns = known
    measure = _pick(columns, text, numeric=True)
    group = _pick(columns, text, numeric=False, named=True)  # "by species"; else a histogram
    if measure is None:
        return Step(answer="I found no numeric column to plot. " + HELP)
    if turn.called("run_python"):
        kind = f"the mean {measure.name} per {group.name}" if group else f"{measure.name}"
        return Step(
            answer=f"I drew a chart of {kind} from `{frame}`; it is in this cell. I can't see "
            "images (the demo model has no vision), so I can't describe it; a model that "
            'accepts images would look at it (`%config Agent.vision = "auto"`).'
        )
    if group is not None:
        code = (
            "import matplotlib.pyplot as plt\n"
            f"ax = {frame}.groupby({group.name!r})[{measure.name!r}].mean().sort_values()"
            f".plot(kind='barh', title='Mean {measure.name} by {group.name}')\n"
            f"ax.set_xlabel({measure.name!r})\nplt.show()"
        )
    else:
        code = (
            "import matplotlib.pyplot as plt\n"
            f"ax = {frame}[{measure.name!r}].plot(kind='hist', bins=20, title={measure.name!r})\n"
            "plt.show()"
        )
    return Step("run_python", {"code": code})


def _clean(turn: Turn, text: str, tools: set[str]) -> Step:
    frame = _frame(turn, text)
    if isinstance(frame, Step):
        return frame
    done = turn.result_of("run_python")
    if done is not None:
        counts = re.findall(r"\d+", done[1].split("stdout:")[-1])
        if len(counts) >= 2:
            return Step(
                answer=f"`{frame}_clean` has {counts[1]} of {counts[0]} rows: I dropped the "
                f"rows with missing values; `{frame}` itself is unchanged."
            )
        return Step(answer=f"I ran the cleaning code; see its output above. {done[1][:200]}")
    code = (
        f"{frame}_clean = {frame}.dropna().reset_index(drop=True)\n"
        f"print(len({frame}), len({frame}_clean))"
    )
    return Step("run_python", {"code": code})


def _look(turn: Turn, text: str, tools: set[str]) -> Step:
    """A question about a figure in the notebook: find it, and say the demo can't see it."""
    found = turn.result_of("notebook_cells")
    if found is None:
        return Step("notebook_cells")
    images = re.findall(r"\[cell (\d+)\][^\n]*(?:\n(?!\[cell ).*)*?(\[image: [^\]]+\])", found[1])
    source = re.search(r"Source: ([^.(]+)", found[1])
    where = source[1].strip() if source else "the notebook"
    blind = "I'm the offline demo model and I can't see images, so I can't say what it shows."
    if not images:
        return Step(answer=f"{blind} I found no image in {where} either.")
    cell, summary = images[-1]
    return Step(
        answer=f"{blind} The figure is in cell {cell} ({summary[1:-1]}, from {where}); a model "
        'that accepts images is sent it to look at (`%config Agent.vision = "auto"`).'
    )


INTENTS = [
    (
        r"\b(chart|plot|figure|image|picture|graph)s? (above|in (the|this) notebook)\b"
        r"|what does the (chart|plot|figure|graph) (show|say)",
        _look,
    ),
    (r"\b(remember|note that|for the record)\b", _remember),
    (r"what did we (decide|agree)|last time|remind me|do you remember|\brecall\b", _recall),
    (r"\b(project files?|our docs|documentation|notes say|in the files)\b", _search),
    (r"\b(plot|chart|graph|visuali[sz]e|histogram)\b", _plot),
    (r"\b(clean|missing values|drop (na|null|missing)|remove (na|null|missing))\b", _clean),
    (
        r"\b(highest|lowest|most|least|largest|smallest|heaviest|lightest|longest|shortest"
        r"|top|average|mean|total)\b",
        _aggregate,
    ),
    (r"\b(describe|columns|overview|explore|look at|summari[sz]e)\b", _describe),
    (r"what (data|variables)|which (data|dataframes|variables)|what do i have", _variables),
]


# -- reading tool results ------------------------------------------------------------------


def _frame(turn: Turn, text: str) -> str | Step:
    """The dataframe the request is about: named in it, else the first one listed."""
    listed = turn.result_of("list_variables")
    if listed is None:
        return Step("list_variables")
    frames = [
        row.split("|")[1].strip()
        for row in listed[1].splitlines()
        if row.startswith("| ") and ("DataFrame" in row or "pyarrow.Table" in row)
    ]
    words = set(_WORD.findall(text))
    named = [f for f in frames if f.lower() in words]
    if named or frames:
        return (named or frames)[0]
    return Step(answer="I see no dataframe in your namespace. Load one first, e.g. with pandas.")


def _frame_and_columns(turn: Turn, text: str) -> tuple[str, list[Column]] | Step:
    """The frame the request is about and its columns, or the step that finds them out."""
    frame = _frame(turn, text)
    if isinstance(frame, Step):
        return frame
    columns = _columns(turn, frame)
    if columns is None:
        return Step("describe_dataframe", {"name": frame})
    return frame, columns


def _columns(turn: Turn, frame: str) -> list[Column] | None:
    described = turn.result_of("describe_dataframe")
    if described is None or described[0].get("name") != frame:
        return None
    columns = []
    for line in described[1].splitlines():
        match = re.match(r"- (\S+): (\S+?),", line)
        if not match:
            continue
        name, dtype = match.groups()
        numeric = bool(re.match(r"(u?int|float|Int|Float|double|i\d|f\d|decimal)", dtype, re.I))
        tops = re.findall(r"'([^']*)' \d", line.split("; top ", 1)[1]) if "; top " in line else []
        columns.append(Column(name, numeric, tops))
    return columns


def _pick(columns: list[Column], text: str, *, numeric: bool, named: bool = False) -> Column | None:
    """The column of this kind the request names most clearly (its words, or synonyms);
    with `named`, only one the request actually names."""
    words = set(_WORD.findall(text))
    hints = words | {h for w in words for h in SYNONYMS.get(w, ())}
    candidates = [c for c in columns if c.numeric == numeric and not c.name.endswith("id")]
    if not numeric:
        candidates = [c for c in candidates if c.top_values] or candidates

    def score(column: Column) -> int:
        parts = set(column.name.lower().split("_"))
        stems = {p.rstrip("s") for p in parts}
        return len((parts | stems) & hints) + (2 if column.name.lower() in words else 0)

    ranked = sorted(candidates, key=score, reverse=True)
    if not ranked:
        return None
    if score(ranked[0]) > 0 or not named:
        return ranked[0]
    return None


def in_words(alias: str) -> str:
    """A result column's alias as prose: "sum_revenue" -> "total revenue"."""
    how, _, column = alias.partition("_")
    words = {"sum": "total", "avg": "average", "mean": "average", "min": "lowest", "max": "highest"}
    if how == "count" and not column:
        return "number of rows"
    return f"{words[how]} {column.replace('_', ' ')}" if how in words and column else alias


def _query(frame: str, columns: list[Column], text: str) -> str | None:
    group = _pick(columns, text, numeric=False)
    measure = _pick(columns, text, numeric=True, named=True)  # none named: count the rows
    if group is None:
        return None
    how_many = re.search(r"how many|number of|count", text)
    if measure is None or how_many:
        aggregate, name = "count(*)", "count"
    else:
        word = (
            "avg" if re.search(r"average|mean|heaviest|lightest|longest|shortest", text) else "sum"
        )
        aggregate, name = f"{word}({measure.name})", f"{word}_{measure.name}"
    conditions = [f"{group.name} IS NOT NULL", *_filter(columns, group, text)]
    order = "ASC" if any(w in text for w in LOW_WORDS) else "DESC"
    return (
        f"SELECT {group.name}, round({aggregate}, 2) AS {name} FROM {frame} "
        f"WHERE {' AND '.join(conditions)} GROUP BY {group.name} ORDER BY {name} {order}"
    )


def _filter(columns: list[Column], group: Column, text: str) -> list[str]:
    """A condition when the request names a value of another text column ("in March")."""
    words = _WORD.findall(text)
    for column in columns:
        if column is group or column.numeric:
            continue
        for value in column.top_values:
            lowered = value.lower()
            if any(len(w) >= 3 and (w == lowered or w.startswith(lowered)) for w in words):
                return [f"{column.name} = '{value}'"]
    return []


def _table(text: str) -> list[tuple[str, str]]:
    rows = [ln for ln in text.splitlines() if ln.startswith("| ") and not set(ln) <= set("|- ")]
    return [tuple(c.strip() for c in ln.strip("|").split("|"))[:2] for ln in rows[1:]]  # type: ignore[misc]
