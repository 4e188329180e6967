"""The verifier on 40 scripted answers, half of them making an unsupported claim.

Each case is what a run recorded (tool results, whether code ran, the variables and files
that exist) and an answer. Backed answers state numbers as people write them (rounded, with
thousands separators, as percentages, in millions); unbacked ones change a number, invent one,
claim code ran when it did not, or name a variable or file that does not exist. Reported: how
many flags are right and wrong. Baseline in the same run: a naive check that wants every
number's exact text to appear in a tool result.
Run: .venv/bin/python benchmarks/bench_verifier.py
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from agent_kernel.runtime.verify import Record, verify

SALES = (
    "4 rows × 3 columns: region VARCHAR, revenue DOUBLE, share DOUBLE\n"
    "| region | revenue    | share    |\n| West   | 1450.0     | 0.352941 |\n"
    "| East   | 1200.5     | 0.292203 |\n| North  | 980.25     | 0.238597 |\n"
    "| South  | 477.75     | 0.116259 |"
)
PENGUINS = (
    "3 rows × 2 columns: species VARCHAR, avg_mass DOUBLE\n| Gentoo | 5076.02 |\n"
    "| Chinstrap | 3733.09 |\n| Adelie | 3700.66 |"
)
BIG = "1 row × 1 column: total BIGINT\n| 1234567 |"
PRINTED = "stdout:\nrows before: 344, after: 333\nnew or changed variables: penguins_clean"

# (sources, code ran, variables, answer, has an unsupported claim)
CASES: list[tuple[list[str], bool, set[str], str, bool]] = [
    ([SALES], False, set(), "**West** leads with 1,450.00, ahead of East (1,200.50).", False),
    ([SALES], False, set(), "West sold 1450 and East about 1,200.", False),
    ([SALES], False, set(), "West has 35% of revenue; South only 11.6%.", False),
    ([SALES], False, set(), "North brought in 980.25.", False),
    (
        [SALES],
        False,
        set(),
        "The four regions: West 1,450, East 1,200.5, North 980, South 478.",
        False,
    ),
    ([SALES], False, set(), "East's share is 29.2%.", False),
    ([PENGUINS], False, set(), "Gentoo penguins weigh 5,076 g on average.", False),
    ([PENGUINS], False, set(), "Gentoo (5076.02 g) outweigh Chinstrap (3,733 g).", False),
    ([PENGUINS], False, set(), "Adelie average 3,700.66 g, the lightest of the 3 species.", False),
    ([BIG], False, set(), "Total revenue was 1,234,567.", False),
    ([BIG], False, set(), "Total revenue was about 1.2 million.", False),
    (
        [PRINTED],
        True,
        {"penguins_clean"},
        "I ran the cleaning: 333 of 344 rows remain in `penguins_clean`.",
        False,
    ),
    ([PRINTED], True, {"penguins_clean"}, "I created `penguins_clean` with 333 rows.", False),
    (
        [SALES],
        False,
        set(),
        "```sql\nSELECT region, sum(revenue) FROM sales GROUP BY 1 LIMIT 100\n```\nWest: 1,450.",
        False,
    ),
    (
        [SALES, "Which region sold most in 2024?"],
        False,
        set(),
        "In 2024 West sold most (1,450).",
        False,
    ),
    ([SALES], False, set(), "1. West: 1,450\n2. East: 1,200.5\n3. North: 980.25", False),
    ([SALES], False, set(), "West is first and South is last.", False),
    ([PENGUINS], False, set(), "Gentoo are heaviest at 5.08 thousand grams.", False),
    ([SALES], False, set(), "West's revenue of 1.45k leads.", False),
    ([PRINTED], True, set(), "The code ran and printed 344 then 333.", False),
    # unsupported
    ([SALES], False, set(), "**West** leads with 1,540.00.", True),
    ([SALES], False, set(), "West grew 12% over last year.", True),
    ([SALES], False, set(), "North brought in 890.25.", True),
    ([SALES], False, set(), "East has a 31% share.", True),
    ([SALES], False, set(), "The average region earned 1,027.13.", True),
    ([PENGUINS], False, set(), "Gentoo penguins weigh 5,706 g on average.", True),
    ([PENGUINS], False, set(), "Chinstrap average 3,900 g.", True),
    ([BIG], False, set(), "Total revenue was about 2.3 million.", True),
    ([BIG], False, set(), "Total revenue was 1,243,567.", True),
    ([SALES], False, set(), "I ran a regression: revenue rises with region size.", True),
    ([SALES], False, set(), "I computed the growth rates; West is fastest.", True),
    ([PRINTED], False, set(), "I created `sales_clean` without the outliers.", True),
    ([SALES], False, set(), "I saved the chart to `charts/revenue.png`.", True),
    (
        [PRINTED],
        True,
        {"penguins_clean"},
        "After cleaning, 321 rows remain in `penguins_clean`.",
        True,
    ),
    ([PENGUINS], False, set(), "Adelie penguins live 21 years on average.", True),
    ([SALES], False, set(), "West leads by 17.5 points.", True),
    ([SALES], False, set(), "South's share is 14%.", True),
    ([PRINTED], True, set(), "I wrote the results to `out/summary.csv`.", True),
    ([SALES], False, set(), "Revenue totals 4,800 across regions.", True),
    ([PENGUINS], False, set(), "Gentoo are 37% heavier than Adelie.", True),
]

_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def naive_flags(sources: list[str], answer: str) -> bool:
    """The baseline: every number's exact text must appear in some source."""
    text = "\n".join(sources)
    return any(n.strip(",") not in text for n in _NUMBER.findall(answer))


def main() -> None:
    ours = {"right flag": 0, "wrong flag": 0, "missed": 0, "right pass": 0}
    naive = dict.fromkeys(ours, 0)
    wrong: list[str] = []
    with tempfile.TemporaryDirectory() as folder:
        for sources, ran, names, answer, unsupported in CASES:
            record = Record(sources, ran, dict.fromkeys(names, 1), Path(folder))
            flagged = not verify(answer, record).ok
            for tally, said in ((ours, flagged), (naive, naive_flags(sources, answer))):
                if said and unsupported:
                    tally["right flag"] += 1
                elif said:
                    tally["wrong flag"] += 1
                elif unsupported:
                    tally["missed"] += 1
                else:
                    tally["right pass"] += 1
            if flagged != unsupported:
                wrong.append(f"  {'flagged' if flagged else 'missed'}: {answer}")
    bad = sum(1 for c in CASES if c[4])
    print(f"{len(CASES)} scripted answers, {bad} with an unsupported number or claim")
    print(f"{'':28}{'right flags':>12}{'wrong flags':>12}{'missed':>8}{'right passes':>14}")
    for label, tally in (("verifier", ours), ("baseline: exact text match", naive)):
        print(
            f"{label:28}{tally['right flag']:>12}{tally['wrong flag']:>12}"
            f"{tally['missed']:>8}{tally['right pass']:>14}"
        )
    for line in wrong:
        print(line)


if __name__ == "__main__":
    main()
