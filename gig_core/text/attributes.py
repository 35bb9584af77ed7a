"""Which attribute values a product title names: "Turtle Check Men Navy Blue Shirt" names
gender Men, baseColour Navy Blue and articleType Shirts.

A value is named when its words appear in the title as consecutive words, in singular or plural
("Shirts" matches "Shirt", "Tshirts" matches "T-shirt"), and the longest match wins ("Navy Blue"
over "Blue"). A title naming two different values of one attribute ("Black and White Shirt")
names neither: what it asks for is ambiguous. Alignment metrics judge a sample only on what its
title names, so a title without a colour is never scored on colour.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

WORD = re.compile(r"[a-z0-9]+")


def title_words(text: str) -> list[str]:
    """Lower-cased words, hyphens and apostrophes dropped inside a word ("T-shirt" -> "tshirt"), singular."""
    return [_singular(w) for w in WORD.findall(re.sub(r"(?<=\w)['-](?=\w)", "", text.lower()))]


def _singular(word: str) -> str:
    for suffix, replacement in (("ies", "y"), ("sses", "ss"), ("ches", "ch"), ("shes", "sh"), ("xes", "x")):
        if word.endswith(suffix) and len(word) > len(suffix) + 1:
            return word[: -len(suffix)] + replacement
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


class TitleAttributeParser:
    """Titles -> {attribute: value} for the values of `vocab` they name."""

    def __init__(self, vocab: Mapping[str, Sequence[str]]):
        self.phrases = {a: [(tuple(title_words(v)), v) for v in values if title_words(v)]
                        for a, values in vocab.items()}

    def parse(self, title: str) -> dict[str, str]:
        words = title_words(title)
        named = {}
        for attribute, phrases in self.phrases.items():
            spans = [(start, start + len(p), value) for p, value in phrases
                     for start in range(len(words) - len(p) + 1) if tuple(words[start:start + len(p)]) == p]
            # a match inside a longer one ("Blue" in "Navy Blue") does not count
            kept = {value for s, e, value in spans
                    if not any(s2 <= s and e <= e2 and (e2 - s2) > (e - s) for s2, e2, _ in spans)}
            if len(kept) == 1:
                named[attribute] = kept.pop()
        return named

    def parse_all(self, titles: Sequence[str]) -> list[dict[str, str]]:
        return [self.parse(t) for t in titles]
