"""lm-eval `!function` helpers for BBH items whose options are "(A) ..." lines (as curate's
`options: letters` reads them): the option letters, and the gold option's index."""

import re

LETTER_LINE = re.compile(r"^\(([A-Z])\)\s", re.MULTILINE)


def letters(doc):
    return [f"({letter})" for letter in LETTER_LINE.findall(doc["instruction"] + "\n" + doc["input"])]


def gold(doc):
    return letters(doc).index(doc["output"].strip())
