"""Sanctions screening: name-matching quality and screening latency against the 2019 OFAC SDN list.

    python -m bench.screening [--queries 2000] [--recall 100]

Quality: precision, recall and F1 of the name scorer on OpenSanctions' 826 labelled name pairs,
at the screening threshold and a few others. Latency: one ``Screener.screen`` call per query for
``--queries`` names, half of them list names with perturbations (typos, dropped or reordered
tokens, an added middle name, case), half random non-matching names; the index build time too.
Blocking recall: for ``--recall`` of those queries (about a second each), the screener's matches
against an exhaustive scan that scores every list name. Reads ../shared/data; prints three tables
and writes bench/results/screening_{quality,latency,recall}.json.
"""

from __future__ import annotations

import argparse
import random
import statistics
import string
import time
from pathlib import Path

from adapters.sanctions_ofac import load_ofac_list
from bench.common import report
from bench.name_quality import THRESHOLD, load_cases, quality, score_cases
from domain.compliance import SanctionsList, Screener, normalize_name, score_names
from domain.compliance.screening import DEFAULT_THRESHOLD, ENTITY_KINDS

ROOT = Path(__file__).resolve().parent.parent
OFAC_2019 = ROOT.parent / "shared" / "data" / "sanctions" / "ofac-sdn-2019"
SWEEP = (0.60, 0.65, 0.70, 0.75, 0.80, 0.85, 0.90)
SEED = 20191231
_SYLLABLES = [c + v for c in "bdfghklmnprstvz" for v in "aeiou"] + ["ar", "el", "in", "on", "us", "ek"]


def quality_rows() -> list[dict]:
    """Precision, recall and F1 on the labelled pairs at each threshold of the sweep."""
    scored = score_cases(load_cases())
    rows = []
    for threshold in sorted({THRESHOLD, *SWEEP}):
        q = quality(scored, threshold)
        marker = " *" if threshold == THRESHOLD else ""
        rows.append({"measure": f"name pairs ({len(scored)})", "threshold": f"{threshold:.2f}{marker}",
                     "precision": f"{q.precision:.3f}", "recall": f"{q.recall:.3f}", "f1": f"{q.f1:.3f}",
                     "tp": q.tp, "fp": q.fp, "tn": q.tn, "fn": q.fn})
    return rows


def perturb(name: str, rng: random.Random) -> str:
    """``name`` with one or two realistic changes a customer record might show."""
    tokens = name.replace(",", "").split()
    for _ in range(rng.randint(1, 2)):
        change = rng.choice(("typo", "typo", "drop", "reorder", "middle", "case"))
        long_tokens = [i for i, t in enumerate(tokens) if len(t) >= 4]
        if change == "typo" and long_tokens:
            i = rng.choice(long_tokens)
            tokens[i] = typo(tokens[i], rng)
        elif change == "drop" and len(tokens) >= 3:
            tokens.pop(rng.randrange(len(tokens)))
        elif change == "reorder" and len(tokens) >= 2:
            tokens.insert(0, tokens.pop())
        elif change == "middle" and len(tokens) >= 2:
            tokens.insert(1, random_word(rng).capitalize())
        elif change == "case":
            tokens = [t.capitalize() for t in tokens]
    return " ".join(tokens)


def typo(token: str, rng: random.Random) -> str:
    """``token`` with one letter deleted, inserted, substituted or swapped with the next."""
    i = rng.randrange(1, len(token) - 1)
    kind = rng.choice(("delete", "insert", "substitute", "swap"))
    letter = rng.choice(string.ascii_uppercase if token.isupper() else string.ascii_lowercase)
    if kind == "delete":
        return token[:i] + token[i + 1:]
    if kind == "insert":
        return token[:i] + letter + token[i:]
    if kind == "substitute":
        return token[:i] + letter + token[i + 1:]
    return token[:i] + token[i + 1] + token[i] + token[i + 2:]


def random_word(rng: random.Random) -> str:
    """A pronounceable made-up word of two or three syllables."""
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3)))


def random_name(rng: random.Random) -> str:
    """A made-up name of two or three words, sometimes with a legal form."""
    words = [random_word(rng).capitalize() for _ in range(rng.randint(2, 3))]
    if rng.random() < 0.3:
        words.append(rng.choice(("Ltd", "LLC", "GmbH", "Trading Co", "S.A.")))
    return " ".join(words)


def make_queries(sanctions: SanctionsList, count: int, rng: random.Random) -> list[tuple[str, str | None]]:
    """``count`` queries, each with the uid of the entry it was derived from (``None`` if random)."""
    names = [(entry.uid, name) for entry in sanctions.entries for name, _ in entry.names()]
    queries: list[tuple[str, str | None]] = []
    for i in range(count):
        if i % 2 == 0:
            uid, name = rng.choice(names)
            queries.append((perturb(name, rng), uid))
        else:
            queries.append((random_name(rng), None))
    return queries


def percentile(samples: list[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile of ``samples``."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def latency_rows(screener: Screener, queries: list[tuple[str, str | None]], build_seconds: float) -> list[dict]:
    """Screens every query once: latency percentiles, and how often a perturbed list name finds
    its entry and a random name raises an alert."""
    timings, found, derived, alerts, random_count = [], 0, 0, 0, 0
    for query, uid in queries:
        started = time.perf_counter()
        result = screener.screen(query)
        timings.append((time.perf_counter() - started) * 1000)
        if uid is None:
            random_count += 1
            alerts += bool(result.matches)
        else:
            derived += 1
            found += any(m.uid == uid for m in result.matches)
    return [{
        "list names": screener.name_count, "queries": len(queries), "build s": f"{build_seconds:.2f}",
        "p50 ms": f"{percentile(timings, 50):.2f}", "p95 ms": f"{percentile(timings, 95):.2f}",
        "p99 ms": f"{percentile(timings, 99):.2f}", "max ms": f"{max(timings):.2f}",
        "mean ms": f"{statistics.fmean(timings):.2f}",
        "perturbed found": f"{found}/{derived}", "random alerted": f"{alerts}/{random_count}",
    }]


def recall_rows(screener: Screener, sanctions: SanctionsList, queries: list[tuple[str, str | None]]) -> list[dict]:
    """How many of an exhaustive scan's matches (its top 10 per query) the screener returns."""
    everything = [(entry.uid, normalize_name(name, ENTITY_KINDS[entry.entity_type]))
                  for entry in sanctions.entries for name, _ in entry.names()]
    expected_total = found_total = best_found = with_matches = 0
    for query, _uid in queries:
        normalized = {k: normalize_name(query, k) for k in ("person", "organization", "other")}
        best: dict[str, float] = {}
        for uid, name in everything:
            score = score_names(normalized[name.kind], name).score
            if score >= DEFAULT_THRESHOLD and score > best.get(uid, 0.0):
                best[uid] = score
        expected = sorted(best, key=lambda u: (-best[u], u))[:10]
        returned = {m.uid for m in screener.screen(query).matches}
        expected_total += len(expected)
        found_total += len(returned & set(expected))
        if expected:
            with_matches += 1
            top = max(best.values())
            best_found += any(best[u] == top for u in returned if u in best)
    return [{
        "queries": len(queries), "with matches": with_matches,
        "best match found": f"{best_found}/{with_matches}",
        "top-10 matches found": f"{found_total}/{expected_total}",
        "recall": f"{found_total / expected_total:.3f}" if expected_total else "n/a",
    }]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--recall", type=int, default=100, help="queries checked against an exhaustive scan")
    args = parser.parse_args(argv)
    rng = random.Random(SEED)

    rows = quality_rows()
    print("Name matching on cases.csv (* = the screening threshold)\n")
    report("screening_quality", rows, ["measure", "threshold", "precision", "recall", "f1", "tp", "fp", "tn", "fn"])

    sanctions = load_ofac_list(OFAC_2019)
    started = time.perf_counter()
    screener = Screener(sanctions)
    build_seconds = time.perf_counter() - started
    queries = make_queries(sanctions, args.queries, rng)
    print(f"\nScreening against {sanctions.source} {sanctions.version} ({len(sanctions.entries)} entries)\n")
    latency = latency_rows(screener, queries, build_seconds)
    report("screening_latency", latency, list(latency[0]))

    if args.recall:
        print("\nBlocking recall against an exhaustive scan\n")
        sample = rng.sample(queries, min(args.recall, len(queries)))
        recall = recall_rows(screener, sanctions, sample)
        report("screening_recall", recall, list(recall[0]))


if __name__ == "__main__":
    main()
