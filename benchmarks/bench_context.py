"""Context efficiency: a 100-turn session with 20 planted facts, each asked about later.

Every turn looks like real work (a request, an sql call with a table result, an answer); 20 of
them state a fact in passing. Finished turns are indexed as a kernel indexes them. Then each
fact is asked about in other words, and the context the kernel would send is built with the
default budget. Reported: tokens per call against sending the full history (the baseline,
counted with the same estimate) and the share of planted facts present in what is sent.
Run: .venv/bin/python benchmarks/bench_context.py [--turns 100] [--budget 12000] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
from pathlib import Path
from typing import Any

FACTS = [
    (
        "For later: Acme's discount code is ZX-4471.",
        "Which discount code does Acme use?",
        "ZX-4471",
    ),
    (
        "Remember the warehouse in Lyon closes on 14 March.",
        "When does the French warehouse shut?",
        "14 March",
    ),
    (
        "Note: our churn window is 47 days.",
        "How many days without orders count as churn?",
        "47 days",
    ),
    (
        "The Q3 marketing budget is 41,250 EUR.",
        "How much money does marketing have in the third quarter?",
        "41,250",
    ),
    (
        "Keep in mind the CFO is called Ingrid Solberg.",
        "Who is our chief financial officer?",
        "Ingrid Solberg",
    ),
    (
        "FYI the sales table's revenue is net of VAT.",
        "Does revenue include value added tax?",
        "net of VAT",
    ),
    (
        "Outliers above 3.5 sigma are removed before reporting.",
        "What outlier rule do we apply?",
        "3.5 sigma",
    ),
    (
        "Our fiscal year starts on 1 April.",
        "In which month does the financial year begin?",
        "1 April",
    ),
    (
        "The forecast model of record is ETS with weekly seasonality.",
        "Which forecasting method is the official one?",
        "ETS",
    ),
    (
        "Customer 88213 is a test account; exclude it.",
        "Is there an account we should leave out of the analysis?",
        "88213",
    ),
    ("The dashboard refreshes at 06:30 UTC.", "At what time is the dashboard updated?", "06:30"),
    (
        "Exchange rate for the report: 1 USD = 0.917 EUR.",
        "Which dollar to euro rate did we agree on?",
        "0.917",
    ),
    (
        "The premium tier price is 79 EUR per month.",
        "How much does the top subscription cost?",
        "79 EUR",
    ),
    (
        "Data before 2021-07-01 is unreliable due to a tracking bug.",
        "From which date can we trust the data?",
        "2021-07-01",
    ),
    (
        "Region 'Nordics' includes Iceland since the reorg.",
        "Does the Nordic region cover Iceland?",
        "Iceland",
    ),
    (
        "Return rates are computed per order line, not per order.",
        "How do we count returns: by order or by line?",
        "per order line",
    ),
    (
        "The board meeting is on the 19th; slides due the 15th.",
        "When are the board slides due?",
        "15th",
    ),
    (
        "Use the median, not the mean, for basket size.",
        "Which average should basket size use?",
        "median",
    ),
    ("The A/B test ran with a 70/30 split.", "How was traffic divided in the experiment?", "70/30"),
    (
        "Shipping costs are capped at 12.90 EUR per parcel.",
        "What is the most a parcel costs to ship?",
        "12.90",
    ),
]
REQUESTS = [
    "Which region had the highest revenue in {m}?",
    "Plot weekly orders for {m}.",
    "How many customers bought more than twice in {m}?",
    "Compare {m} revenue with last year.",
    "Show the top 10 products by units in {m}.",
    "What share of orders used a voucher in {m}?",
    "Break down {m} returns by category.",
    "Is the {m} spike in refunds real or a data error?",
]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August"]


def table(rng: random.Random) -> str:
    regions = ["East", "West", "North", "South"]
    rows = "\n".join(
        f"| {rng.choice(regions)} | {rng.randint(100, 9999)}.{rng.randint(10, 99)} |"
        for _ in range(30)
    )
    return f"30 rows × 2 columns: region VARCHAR, revenue DOUBLE\n| region | revenue |\n{rows}"


def session(turns: int, rng: random.Random) -> tuple[list[list[dict[str, Any]]], list[int]]:
    """Turns of messages; the positions at which facts were planted."""
    planted = sorted(rng.sample(range(turns - 5), len(FACTS)))
    out, fact = [], 0
    for i in range(turns):
        request = rng.choice(REQUESTS).format(m=rng.choice(MONTHS))
        if fact < len(FACTS) and i == planted[fact]:
            request = f"{FACTS[fact][0]} Also: {request}"
            fact += 1
        call = {
            "id": f"c{i}",
            "type": "function",
            "function": {
                "name": "sql",
                "arguments": '{"query": "SELECT region, sum(revenue) FROM sales GROUP BY 1"}',
            },
        }
        answer = (
            f"**{rng.choice(['East', 'West'])}** leads with {rng.randint(1000, 9999)}. "
            + "Details follow. " * 12
        )
        out.append(
            [
                {"role": "user", "content": request},
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": f"c{i}", "content": table(rng)},
                {"role": "assistant", "content": answer},
            ]
        )
    return out, planted


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--budget", type=int, default=12_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from agent_kernel.memory.paths import ProjectPaths
    from agent_kernel.memory.project import ProjectMemory
    from agent_kernel.runtime.context import ContextBuilder, TokenCounter
    from agent_kernel.runtime.session import Session
    from agent_kernel.tools.registry import default_registry

    rng = random.Random(args.seed)
    turns, _ = session(args.turns, rng)
    tools = default_registry().openai_schemas()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        memory = ProjectMemory(ProjectPaths(root, "bench.ipynb", root / ".agent"), "bench")
        stored = Session(id="ses_bench", title="benchmark", stored=True)
        for i, turn in enumerate(turns):
            memory.index_turn(stored, f"run_{i}", turn[0]["content"], turn[-1]["content"])
        history = [m for turn in turns for m in turn]
        counter = TokenCounter()
        system = {"role": "system", "content": ContextBuilder().system}
        tool_tokens = counter.text(json.dumps(tools))
        sent, full_sizes, present = [], [], 0
        missed: list[str] = []
        for _statement, question, value in FACTS:
            asked = [*history, {"role": "user", "content": question}]
            builder = ContextBuilder(
                budget=args.budget,
                counter=counter,
                memories=memory.context_memories,
                earlier_turns=memory.context_turns,
            )
            built = builder.build(asked, tools)
            sent.append(built.tokens)
            full_sizes.append(counter.messages([system, *asked]) + tool_tokens)
            text = "\n".join(str(m.get("content") or "") for m in built.messages)
            found = value in text
            present += found
            if not found:
                missed.append(question)
    ratio = statistics.mean(sent) / statistics.mean(full_sizes)
    print(f"{args.turns}-turn session, {len(FACTS)} planted facts, budget {args.budget:,} tokens")
    print(f"full history per call (baseline)   {statistics.mean(full_sizes):>8,.0f} tokens")
    print(
        f"budgeted context per call          {statistics.mean(sent):>8,.0f} tokens "
        f"(max {max(sent):,}; {ratio:.1%} of the full history)"
    )
    print(
        f"planted facts present when asked   {present} of {len(FACTS)} ({present / len(FACTS):.0%})"
    )
    for question in missed:
        print(f"  missed: {question}")
    print("goal: under 20% of full-history tokens with at least 95% of planted facts present")


if __name__ == "__main__":
    main()
