"""The one error class gift_torch raises for what the user can fix (a bad adapter, config, pattern or
path), as giftjs has GiftjsError. It is a ValueError, so code that caught ValueError still does."""
import re


class GiftTorchError(ValueError):
    pass


def nested_repetition(pattern):
    """The first group repeated without bound whose body also repeats without bound ((a+)+, (\\w*)*),
    or None: exponential backtracking on Python's engine, as on JavaScript's (giftjs io/regex_safety.ts)."""
    open_groups = [[0, False]]
    last_group = None
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        closed = None
        atom_end = -1
        if c == "\\":
            i += 1
            if i < n and pattern[i] in "pPN" and i + 1 < n and pattern[i + 1] == "{":
                j = pattern.find("}", i)
                i = n if j < 0 else j
            atom_end = i + 1
        elif c == "[":
            i += 1
            if i < n and pattern[i] == "^":
                i += 1
            if i < n and pattern[i] == "]":
                i += 1
            while i < n and pattern[i] != "]":
                i += 2 if pattern[i] == "\\" else 1
            atom_end = i + 1
        elif c == "(":
            open_groups.append([i, False])
            i += 1
            continue
        elif c == ")":
            if len(open_groups) < 2:
                return None
            start, unbounded = open_groups.pop()
            closed = (start, i + 1, unbounded)
            if unbounded:
                open_groups[-1][1] = True
            atom_end = i + 1
        elif c in "*+?{":
            i += 1
            continue
        else:
            atom_end = i + 1
        last_group = closed
        q = pattern[atom_end] if atom_end < n else ""
        unbounded = q in ("*", "+") or (q == "{" and re.match(r"^\{\d*,\}", pattern[atom_end:]) is not None)
        if unbounded:
            if last_group is not None and last_group[2]:
                return pattern[last_group[0]:last_group[1]] + q
            open_groups[-1][1] = True
        i += 1
    return None


def checked_regex(pattern, what):
    """A pattern compiled, refused by name when Python cannot read it or when it nests repetitions."""
    nested = nested_repetition(pattern)
    if nested is not None:
        raise GiftTorchError(f"{what} {pattern!r}: {nested} repeats a group that itself repeats without bound, which can take exponential time; gift_torch refuses it")
    try:
        return re.compile(pattern)
    except re.error as err:
        raise GiftTorchError(f"{what} {pattern!r} is not a regular expression Python can read ({err})") from None
