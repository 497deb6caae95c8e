"""Submissions of one lesson compared with each other: copies between classmates flagged.

What each student wrote (every code cell of the submission that is not, character for
character, a cell of the student edition everyone started from) becomes a stream of
normalised tokens: identifiers become ``V``, numbers ``N``, comments and layout go, keywords
and operators stay, so renaming variables, re-wording comments or re-spacing changes nothing.
Its fingerprints are the hashes of every ``K`` consecutive tokens, thinned by winnowing
(Schleimer, Wilkerson and Aiken, 2003, the method of MOSS): the smallest hash of every window
of ``W`` consecutive hashes, which keeps any copied run of ``K + W - 1`` tokens or more visible.

Two submissions are flagged, both of them, each naming the other, when at least
:data:`MIN_SHARED` fingerprints are shared and those make :data:`THRESHOLD` of the smaller
one's. Fingerprints of the student edition (the starter code) never count, nor those that
more than half the class (and more than ten submissions) have: the one obvious way to write
a line. A ring of copiers smaller than that is flagged pair by pair; honest students who
write the same short solution are not, since a short answer has fewer fingerprints than
:data:`MIN_SHARED`. Pairs are found through an index from fingerprint to submissions, so the
cost grows with the fingerprints the class has (each capped at the common share), not with
the square of the class. Interleaving junk statements between every copied line can break
the runs of K tokens; that is the method's known limit. Own code of at least
:data:`EXACT_MIN` characters that two students submitted alike but for spacing and blank
lines, comments included, is flagged as identical even when it is too short for the
fingerprints.
"""

from __future__ import annotations

import hashlib
import json
import keyword
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from itertools import combinations
from typing import Any

#: Tokens per fingerprint (K) and the winnowing window (W).
K, W = 12, 8
#: Flag a pair sharing at least this many fingerprints, this share of the smaller one's.
MIN_SHARED, THRESHOLD = 12, 0.7
#: A fingerprint more than this share of the class (and more than COMMON_MIN submissions)
#: has is common code, not evidence; the starter code is removed before this counts.
COMMON_SHARE, COMMON_MIN = 0.5, 10
#: What is compared of one submission (characters of its own code); more is cut here.
CODE_LIMIT = 1_000_000
#: Own code identical but for spacing and blank lines (comments included) in two students'
#: files is flagged from this length on (in characters), however few fingerprints it has.
EXACT_MIN = 200

_TOKEN = re.compile(r"[A-Za-z_]\w*|\d[\w.]*|\S")
_COMMENT = re.compile(r"#[^\n]*")


def tokens(code: str) -> list[str]:
    """``code`` as normalised tokens (identifiers ``V``, numbers ``N``, keywords and symbols
    kept)."""
    out = []
    for token in _TOKEN.findall(_COMMENT.sub("", code)):
        if token[0].isdigit():
            out.append("N")
        elif token[0].isalpha() or token[0] == "_":
            out.append(token if keyword.iskeyword(token) else "V")
        else:
            out.append(token)
    return out


def fingerprints(code: str) -> set[int]:
    """The winnowed fingerprints of ``code``."""
    stream = tokens(code)
    hashes = [int.from_bytes(hashlib.blake2b(" ".join(stream[i:i + K]).encode(),
                                             digest_size=8).digest(), "big")
              for i in range(len(stream) - K + 1)]
    if len(hashes) <= W:
        return set(hashes)
    chosen = set()
    for start in range(len(hashes) - W + 1):
        window = hashes[start:start + W]
        chosen.add(min(window))
    return chosen


def own_code(raw: bytes, starter: set[str]) -> str:
    """Every code cell of a submission's file that is not one of the ``starter`` cells (its
    text as given); ``""`` for a file that is not a notebook."""
    try:
        cells = json.loads(raw.decode("utf-8")).get("cells", [])
    except (ValueError, UnicodeDecodeError, AttributeError):
        return ""
    parts = []
    for cell in cells if isinstance(cells, list) else []:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else str(source)
        if text.strip() not in starter:
            parts.append(text)
    return "\n".join(parts)[:CODE_LIMIT]


def starter_cells(student_edition: Mapping[str, Any]) -> set[str]:
    """The code cells' texts of the edition students start from."""
    found = set()
    for cell in student_edition.get("cells", []):
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            found.add(("".join(source) if isinstance(source, list) else str(source)).strip())
    return found


def similar_pairs(prints: Mapping[str, set[int]], starter: set[int]
                  ) -> list[tuple[str, str, float, int]]:
    """``(a, b, share, shared)`` for every pair over the limits, most similar first."""
    index: dict[int, list[str]] = defaultdict(list)
    for name, found in prints.items():
        for value in found - starter:
            index[value].append(name)
    common = max(COMMON_MIN, int(COMMON_SHARE * len(prints)))
    shared: Counter[tuple[str, str]] = Counter()
    for names in index.values():
        if 2 <= len(names) <= common:
            shared.update(combinations(sorted(names), 2))
    pairs = []
    for (a, b), count in shared.items():
        smaller = min(len(prints[a] - starter), len(prints[b] - starter))
        share = count / smaller if smaller else 0.0
        if count >= MIN_SHARED and share >= THRESHOLD:
            pairs.append((a, b, share, count))
    return sorted(pairs, key=lambda pair: (-pair[2], pair[0], pair[1]))


def similarity_flags(codes: Mapping[str, str], starter_code: Iterable[str],
                     owners: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """Submission name -> ``similar to <classmate> (N% of fingerprints shared); ...`` for
    every submission in a flagged pair, the most similar classmates first (at most three).
    Two files of one student (``owners``) are not compared with each other."""
    prints = {name: fingerprints(code) for name, code in codes.items()}
    starter: set[int] = set()
    for code in starter_code:
        starter |= fingerprints(code)
    partners: dict[str, list[str]] = defaultdict(list)
    identical: set[tuple[str, str]] = set()

    def other_student(a: str, b: str) -> bool:
        return owners is None or owners.get(a) is None or owners.get(a) != owners.get(b)

    groups: dict[str, list[str]] = defaultdict(list)
    for name, code in codes.items():
        spaced = " ".join(code.split())  # spacing, indentation and blank lines made alike
        if len(spaced) >= EXACT_MIN:
            groups[hashlib.sha256(spaced.encode()).hexdigest()].append(name)
    common = max(COMMON_MIN, int(COMMON_SHARE * len(codes)))
    for names in groups.values():
        for a, b in combinations(sorted(names), 2) if len(names) <= common else ():
            if other_student(a, b):
                identical.add((a, b))
                partners[a].append(f"identical to {b} (but for spacing)")
                partners[b].append(f"identical to {a} (but for spacing)")
    for a, b, share, _ in similar_pairs(prints, starter):
        if other_student(a, b) and (a, b) not in identical:
            partners[a].append(f"similar to {b} ({share:.0%} of fingerprints shared)")
            partners[b].append(f"similar to {a} ({share:.0%} of fingerprints shared)")
    return {name: "; ".join(found[:3]) + ("; ..." if len(found) > 3 else "")
            for name, found in partners.items()}
