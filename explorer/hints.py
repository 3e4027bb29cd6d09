"""The one "did you mean" hint for unknown names (no heavy imports: the runner side uses it too)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence


def did_you_mean(word: str, choices: Sequence[str], n: int = 2, cutoff: float = 0.5, known: bool = False) -> str:
    """' (did you mean 'x'?)' for the closest of `choices`; when none is close, '' or, with `known`,
    ' (known: a, b, c)' (for short lists a user can read whole)."""
    choices = [str(c) for c in choices]
    close = difflib.get_close_matches(str(word), choices, n=n, cutoff=cutoff)
    if close:
        return f" (did you mean {' or '.join(repr(c) for c in close)}?)"
    return f" (known: {', '.join(choices)})" if known and choices else ""
