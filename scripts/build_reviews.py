"""Build align-reviews.jsonl: honest reviews, positive AND negative, of films, books, games, restaurants, products
and places, answered, for seal align:

    python scripts/build_reviews.py [--out src/seal/resources/builtin/align-reviews.jsonl]

Why: the alignment sets refuse fake reviews (AdvBench's "write a review that manipulates customer ratings", "a
review for a product you have not used"), and nothing in them answered an ordinary critical review. Aligned on
builtin:align-broad, SmolLM2 refused 85 of 100 benign requests for a sentence of a NEGATIVE film review and 6 of
80 for a positive one (review-objective, docs/selection-quality.md): it had learned "negative review" as the
harm, not "fake". These rows are the benign side of that contrast: the requester has seen, read, eaten at or used
the thing, and asks for an honest opinion, often a bad one. Items and details are invented for seal-llm (none is
an evaluation prompt: checked here); answers are the embedded SmolLM2-135M-Instruct's own (greedy, before
alignment; answers the keyword judge calls refusals are dropped). Seeded."""

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_borderline import answer_and_write  # noqa: E402

# (kind of thing, invented item, what the requester experienced)
ITEMS = [
    ("film", "Harbour Lights", "a slow romance whose ending fell flat"), ("film", "Steel Dawn", "a loud action film "
     "with a thin plot"), ("film", "The Last Orchard", "a family drama with wonderful acting"),
    ("film", "Night Shift", "a horror film that was more silly than scary"), ("film", "Paper Crowns", "a comedy "
     "whose jokes did not land"), ("film", "Cold Meridian", "a war film with a confusing story"),
    ("book", "The Glass Archive", "a mystery novel with a predictable twist"), ("book", "Salt and Cedar", "a memoir "
     "that was honest but too long"), ("book", "Quiet Engines", "a science fiction novel with flat characters"),
    ("book", "A Winter of Foxes", "a children's book with lovely pictures"),
    ("video game", "Ember Fields", "a farming game with a boring second half"), ("video game", "Rift Runner", "a "
     "racing game with clumsy controls"), ("video game", "Hollow Keep", "a dungeon game with unfair bosses"),
    ("restaurant", "Luigi's Corner", "cold pasta and slow service"), ("restaurant", "The Green Fig", "fresh salads "
     "but tiny portions"), ("restaurant", "Blue Anchor Fish Bar", "greasy chips and a rude waiter"),
    ("hotel", "the Seaview Inn", "a noisy room and a broken shower"), ("hotel", "Pine Lodge", "friendly staff but an "
     "old, dusty room"), ("product", "the Aero 3 vacuum cleaner", "weak suction and a battery that dies fast"),
    ("product", "the Brightline desk lamp", "a flickering light after two weeks"), ("product", "the TrailMate "
     "hiking boots", "blisters on the first long walk"), ("product", "the Nimbus phone case", "a case that cracked "
     "when the phone fell"), ("album", "Northern Static", "an album with two good songs and eight forgettable ones"),
    ("concert", "the city orchestra's summer concert", "a poor sound system"),
    ("museum", "the Railway Museum", "interesting trains but confusing signs"),
    ("TV series", "Kingdom of Dust", "a final season that rushed every story"),
]
FORMS = [
    "Write one sentence of a negative review of {item}, {kind}: {detail}.",
    "Write a short negative review of {item} ({kind}). My experience: {detail}.",
    "I was disappointed by {item}, {kind}: {detail}. Help me write an honest review.",
    "Write one sentence of a positive review of {item}, {kind}, even though {detail}.",
    "Write a balanced review of {item} ({kind}), mentioning that {detail}.",
    "Give {item} ({kind}) a star rating out of five and explain it in two sentences: {detail}.",
    "Write a critical review of {item}, {kind}, for a local newspaper: {detail}.",
]


def prompts(rng: random.Random) -> list[tuple[str, str]]:
    """(prompt, kind) pairs: three request forms for each item, at least one of them negative."""
    out = []
    for kind, item, detail in ITEMS:
        forms = [rng.choice(FORMS[:3])] + rng.sample(FORMS[3:], 2)
        out += [(f.format(item=item, kind=f"a {kind}" if kind[0] not in "aeiou" else f"an {kind}", detail=detail),
                 "negative" if f in FORMS[:3] or "critical" in f else "other") for f in forms]
    return list(dict.fromkeys(out))


def main() -> None:
    answer_and_write("src/seal/resources/builtin/align-reviews.jsonl", prompts, "reviews", continued=False)


if __name__ == "__main__":
    main()
