"""Text people type that others read: what a username and a caption may hold.

A username is read by moderators deciding whose post this is, and by other
people; a look-alike (`moderаtor` with a Cyrillic "а") passes for someone
else. A caption is shown beside an image; a right-to-left override or a
zero-width character makes it read differently from what it holds. Pure
functions; the services call them (the pages only show their errors)."""

from __future__ import annotations

import unicodedata

from confusable_homoglyphs import categories, confusables

# Scripts one name may mix (Unicode TS 39's "highly restrictive" level): a
# Japanese, Chinese or Korean name is legitimately several scripts.
_SCRIPT_SETS = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)
# Kept where it joins two symbols (an emoji sequence: 👩‍💻); hidden anywhere else.
_ZERO_WIDTH_JOINER = "\u200d"


def scripts(text: str) -> frozenset[str]:
    """The scripts of a text's letters (digits and punctuation are common to all)."""
    return frozenset(categories.alias(ch) for ch in text if ch.isalpha()) - {"COMMON", "INHERITED"}


def username_problem(username: str) -> tuple[str, str] | None:
    """(code, message) when a username may pass for another one, else None:
    not in Unicode's compatibility form (full-width letters, ligatures), with
    format characters, or mixing scripts (Latin with Cyrillic or Greek)."""
    if unicodedata.normalize("NFKC", username) != username:
        return "username_not_normalized", "The username has look-alike forms of letters (full-width, ligatures)."
    if any(unicodedata.category(ch) in ("Cf", "Cc", "Zs") for ch in username):
        return "username_hidden_characters", "The username has invisible or control characters."
    used = scripts(username)
    if len(used) > 1 and not any(used <= allowed for allowed in _SCRIPT_SETS):
        named = ", ".join(sorted(s.title() for s in used))
        return "username_mixed_script", f"The username mixes letters of several scripts ({named})."
    return None


def skeleton(username: str) -> str:
    """What a username looks like: every letter that has a look-alike in
    ASCII replaced by it, case folded. Two names with one skeleton are
    confusable (`раураl`, all Cyrillic but one letter, and `paypal`)."""
    return "".join(latin_lookalike(ch) for ch in username).casefold()


def latin_lookalike(ch: str) -> str:
    """The ASCII letter a character passes for (Unicode's confusables:
    Cyrillic "а" is "a"), or the character itself."""
    if ch.isascii():
        return ch
    return next((g["c"] for g in confusables.confusables_data.get(ch, ()) if len(g["c"]) == 1 and g["c"].isascii()), ch)


def visible_text(text: str) -> str:
    """The text without Unicode format characters (category Cf: right-to-left
    and other bidirectional overrides and isolates, zero-width spaces, word
    joiners, tag characters, soft hyphens), which change how a text reads
    without being seen. A zero-width joiner between two symbols (an emoji
    sequence) is kept."""
    kept = []
    for i, ch in enumerate(text):
        if unicodedata.category(ch) != "Cf":
            kept.append(ch)
        elif ch == _ZERO_WIDTH_JOINER and 0 < i < len(text) - 1 and _symbol(text[i - 1]) and _symbol(text[i + 1]):
            kept.append(ch)
    return "".join(kept)


def _symbol(ch: str) -> bool:
    return unicodedata.category(ch) == "So"
