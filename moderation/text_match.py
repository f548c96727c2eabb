"""What the text read in an image says, for the policy: planted terms, contact
details (phone numbers, e-mail addresses, URLs, messenger handles) and the
domains of URLs, QR targets included. Pure functions of the text and the
lists: no database, so the bench and the tests call them as the worker does.

Matching is done twice where it matters: on the text as read (casefolded),
and on a normalised form that undoes leetspeak ("fr33"), confusable letters
(Cyrillic "frее") and spacing ("f r e e"), so a term cannot be hidden by
writing it differently."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from moderation.text import latin_lookalike

TERM_MODES = ("exact", "word", "regex")
CONTACT_KINDS = ("phone", "email", "url", "handle")
MAX_PATTERN_LENGTH = 200
MAX_LINE_LENGTH = 400  # longer lines are cut before matching (a recognised line is far shorter)

# Digits and signs written for letters.
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g", "@": "a", "$": "s",
     "!": "i", "|": "l", "+": "t", "€": "e", "£": "l"}
)  # fmt: skip
# Three or more single letters or digits, each followed by spacing or a dot/dash: "f r e e", "f.r.e.e".
_SPACED = re.compile(r"(?<![^\W_])(?:[^\W_][\s.\-_*]{1,3}){2,}[^\W_](?![^\W_])")


def _fold(text: str) -> str:
    """Casefolded, NFKC, accents dropped, confusable letters made Latin
    (moderation.text.latin_lookalike, which the look-alike usernames check uses too)."""
    text = "".join(latin_lookalike(ch) for ch in unicodedata.normalize("NFKC", text).casefold()).casefold()
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def normalise(text: str) -> str:
    """The form terms are matched in: folded, leetspeak undone, letters
    written apart joined, runs of spacing made one space."""
    text = _fold(text[:MAX_LINE_LENGTH])
    text = _SPACED.sub(lambda m: re.sub(r"[\s.\-_*]", "", m.group(0)), text)
    # Leetspeak inside words; a word's closing "!" or "+" stays punctuation.
    text = re.sub(r"(?<!\S)\S+?(?=[!+?.,;:]*(?:\s|$))", lambda m: m.group(0).translate(_LEET), text)
    return re.sub(r"\s+", " ", text).strip()


@dataclass(frozen=True)
class Term:
    """One entry of a term list."""

    term: str
    mode: str  # exact (anywhere), word (a whole word) or regex
    list_name: str = ""


@dataclass(frozen=True)
class TextHit:
    """One thing found in an image's text: what it is, the text as read, and
    how sure the reading was (the line's confidence; 1.0 for a decoded code)."""

    kind: str  # term, phone, email, url, handle
    matched: str  # as read in the image
    value: str  # the normalised value: the term, digits, address, domain, handle
    confidence: float
    source: str = "text"  # text (a read line) or code (a QR code or barcode)
    list_name: str = ""


def _repeats_a_choice(pattern: str) -> bool:
    """Does a repeated group (*, + or {..} after it) hold a repetition or a
    choice of its own? "(a+)+", "(a|a)*" and "(\\w+\\s?)+" backtrack
    exponentially on a near miss; Python's re has no time limit, so they are
    refused. (A harmless "(ab|cd)+" is refused too: write it without the group.)"""
    opened: list[int] = []
    risky: list[bool] = []
    i = 0
    in_class = False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            opened.append(i)
            risky.append(False)
            if pattern[i + 1 : i + 2] == "?":  # (?:, (?=, (?i: name the group's kind, not a repetition
                i += 2
        elif ch == ")" and opened:
            opened.pop()
            inner = risky.pop()
            following = pattern[i + 1 : i + 2]
            if inner and following in ("*", "+", "{"):
                return True
            if risky:
                risky[-1] = risky[-1] or inner or following in ("*", "+", "{", "?")
        elif ch in "*+?{|" and risky:
            risky[-1] = True
        i += 1
    return False


def term_error(term: str, mode: str) -> str:
    """Why a term cannot be used (empty when it can): regular expressions are
    compiled and refused when they could take exponential time."""
    if mode not in TERM_MODES:
        return f"The match must be one of {', '.join(TERM_MODES)}."
    if not term.strip():
        return "A term may not be empty."
    if len(term) > MAX_PATTERN_LENGTH:
        return f"A term is at most {MAX_PATTERN_LENGTH} characters."
    if mode == "regex":
        try:
            re.compile(term)
        except re.error as error:
            return f"Not a valid regular expression: {error}."
        if _repeats_a_choice(term) or re.search(r"\\\d", term):
            return (
                "A repeated group may not hold a repetition or a choice, and back-references are not allowed "
                "(they can take exponential time)."
            )
    return ""


@dataclass(frozen=True)
class _Compiled:
    term: Term
    patterns: tuple[re.Pattern, ...]


def compile_terms(terms: Iterable[Term]) -> tuple[_Compiled, ...]:
    """Terms made ready to match; an invalid one (term_error) is skipped."""
    compiled = []
    for term in terms:
        if term_error(term.term, term.mode):
            continue
        if term.mode == "regex":
            patterns = (re.compile(term.term, re.IGNORECASE),)
        else:
            variants = {_fold(term.term).strip(), normalise(term.term)}
            body = [re.escape(v) for v in variants if v]
            if term.mode == "word":
                patterns = tuple(re.compile(rf"(?<![^\W_]){b}(?![^\W_])") for b in body)
            else:
                patterns = tuple(re.compile(b) for b in body)
        compiled.append(_Compiled(term, patterns))
    return tuple(compiled)


def term_hits(lines: Sequence[tuple[str, float]], terms: Sequence[_Compiled]) -> list[TextHit]:
    """Every term found in the lines (text, confidence), once per term at
    its most confident line. The lines are also matched joined, so a term
    broken over two lines is found."""
    best: dict[Term, TextHit] = {}
    candidates = [(text, confidence) for text, confidence in lines]
    if len(lines) > 1:
        candidates.append((" ".join(t for t, _ in lines), min(c for _, c in lines)))
    for text, confidence in candidates:
        forms = (_fold(text[:MAX_LINE_LENGTH]), normalise(text))
        for compiled in terms:
            for form in forms:
                found = next((m for p in compiled.patterns if (m := p.search(form))), None)
                if found is None:
                    continue
                held = best.get(compiled.term)
                if held is None or confidence > held.confidence:
                    best[compiled.term] = TextHit(
                        "term", text.strip(), compiled.term.term, confidence, list_name=compiled.term.list_name
                    )
                break
    return list(best.values())


_DOT = r"\s*(?:\.|\(dot\)|\[dot\]|\sdot\s)\s*"
_EMAIL = re.compile(
    rf"(?<![\w.+-])([\w.+-]{{1,64}})\s*(?:@|\(at\)|\[at\])\s*((?:[a-z0-9-]+{_DOT})+[a-z]{{2,24}})(?![\w-])",
    re.I,
)
_URL = re.compile(
    r"(?<![\w@.-])(?:(?:https?|hxxps?)\s*:\s*/\s*/\s*)?((?:www\s*\.\s*)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\s?\.\s?)+([a-z]{2,24}))"
    r"(?:/[^\s]*)?(?![\w@-])",
    re.I,
)
# A dotted name is a URL only with a scheme or www, or when it ends in a TLD
# spam uses; otherwise "e.g." and "3.5" would be links.
COMMON_TLDS = frozenset(
    "com net org info biz io co me ly gg tv cc xyz top site online shop store app link click club live fun vip "
    "uk de fr es it nl ru cn in br pl au ca us eu ch se no fi dk be at cz pt jp kr example test".split()
)
# Digits may touch letters ("CALL+44", "9876FOR": OCR drops spaces in big type).
_PHONE = re.compile(r"(?<![\d+])(\+?\(?\d[\d\s().\-/]{5,22}\d)(?!\d)")
_MESSENGERS = (
    r"whats\s?app|telegram|tele|signal|viber|wechat|snap(?:chat)?|insta(?:gram)?|kik|line|skype|discord|ig|tg|wa"
)
_HANDLE = re.compile(
    rf"(?:(?<![\w.])@([a-z0-9_][a-z0-9_.]{{2,30}})|\b(?:t\.me|wa\.me|telegram\.me)\s*/\s*([a-z0-9_+]{{3,32}})"
    rf"|\b(?:{_MESSENGERS})\b\s*(?:id|me|us|:|-)?\s*:?\s*@?([a-z0-9_.]{{3,30}}))",
    re.I,
)
_DIGITS_FOR = str.maketrans({"o": "0", "O": "0", "l": "1", "I": "1", "|": "1"})


def _squash(value: str) -> str:
    return re.sub(r"\s+", "", value)


def url_domain(target: str) -> str:
    """The domain of a URL or bare host name, lowercased, without www and port."""
    value = _squash(target).lower()
    value = re.sub(r"^(?:https?|hxxps?):/+", "", value)
    host = re.split(r"[/?#]", value, maxsplit=1)[0].rsplit("@", 1)[-1].split(":", 1)[0]
    host = host.strip(".")
    return host[4:] if host.startswith("www.") else host


def contact_hits(lines: Sequence[tuple[str, float]], *, allowed_domains: Iterable[str] = ()) -> list[TextHit]:
    """Phone numbers, e-mail addresses, URLs and messenger handles in the
    lines (text, confidence). URLs of an allowed domain are not contact details."""
    allowed = tuple(allowed_domains)
    hits: list[TextHit] = []
    seen: set[tuple[str, str]] = set()
    candidates = list(lines)
    if len(lines) > 1:  # a number or address wrapped onto the next line
        candidates.append((" ".join(t for t, _ in lines), min(c for _, c in lines)))
    for text, confidence in candidates:
        text = text[:MAX_LINE_LENGTH]
        emails = []
        for m in _EMAIL.finditer(text):
            domain = re.sub(r"\s*(?:\(dot\)|\[dot\]|\sdot\s)\s*", ".", m.group(2), flags=re.I)
            address = f"{m.group(1)}@{_squash(domain)}".lower()
            emails.append(m.span())
            hits.append(TextHit("email", m.group(0).strip(), address, confidence))
        for m in _URL.finditer(text):
            if any(start <= m.start() < end for start, end in emails):
                continue
            whole, tld = m.group(0), m.group(2).lower()
            explicit = bool(re.match(r"(?:https?|hxxps?|www)", whole, re.I))
            if not explicit and tld not in COMMON_TLDS:
                continue
            domain = url_domain(whole)
            if domain_listed(domain, allowed):
                continue
            hits.append(TextHit("url", whole.strip(), domain, confidence))
        for m in _PHONE.finditer(text):
            digits = re.sub(r"\D", "", m.group(1).translate(_DIGITS_FOR))
            if 7 <= len(digits) <= 15 and not re.fullmatch(r"(19|20)\d\d[-./]\d\d?[-./]\d\d?", m.group(1).strip()):
                hits.append(
                    TextHit("phone", m.group(1).strip(), ("+" if "+" in m.group(1) else "") + digits, confidence)
                )
        for m in _HANDLE.finditer(text):
            if any(start <= m.start() < end for start, end in emails):
                continue
            handle = next(g for g in m.groups() if g)
            if handle.isdigit():
                continue  # a number after "WhatsApp" is the phone hit's, if any
            hits.append(TextHit("handle", m.group(0).strip(), handle.lower(), confidence))
    unique = []
    for hit in hits:
        if (hit.kind, hit.value) not in seen:
            seen.add((hit.kind, hit.value))
            unique.append(hit)
    return unique


def domain_listed(domain: str, listed: Iterable[str]) -> str:
    """The entry of `listed` that covers `domain` (itself or a parent), or ''."""
    domain = domain.lower().strip(".")
    for entry in listed:
        entry = entry.lower().strip(".")
        if entry and (domain == entry or domain.endswith("." + entry)):
            return entry
    return ""


def code_hits(codes: Sequence[str], *, allowed_domains: Iterable[str] = ()) -> list[TextHit]:
    """What decoded QR codes and barcodes point at: a URL target (or a
    phone, an e-mail) is a contact detail, as it would be in printed text."""
    hits = []
    for payload in codes:
        payload = payload[:MAX_LINE_LENGTH]
        if payload.isdigit():
            continue  # a product barcode (EAN, UPC), not a phone number
        lowered = payload.lower()
        if lowered.startswith(("tel:", "sms:", "smsto:")):
            digits = re.sub(r"\D", "", payload.split(":", 1)[1].split(":")[0])
            hits.append(TextHit("phone", payload, digits, 1.0, "code"))
        elif lowered.startswith("mailto:"):
            hits.append(TextHit("email", payload, payload[7:].split("?")[0].lower(), 1.0, "code"))
        else:
            for hit in contact_hits([(payload, 1.0)], allowed_domains=allowed_domains):
                hits.append(TextHit(hit.kind, hit.matched, hit.value, 1.0, "code"))
    return hits


def blocked_domain_hits(
    hits: Sequence[TextHit], *, blocked: Iterable[str], allowed: Iterable[str] = ()
) -> list[TextHit]:
    """The URL and e-mail hits whose domain a block-list covers (and no
    allow-list entry), each naming the block-list entry as its value."""
    blocked, allowed = tuple(blocked), tuple(allowed)
    found = []
    for hit in hits:
        if hit.kind not in ("url", "email"):
            continue
        domain = hit.value.rsplit("@", 1)[-1]
        entry = domain_listed(domain, blocked)
        if entry and not domain_listed(domain, allowed):
            found.append(TextHit("domain", hit.matched, entry, hit.confidence, hit.source))
    return found


_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


def domain_clean(domain: str) -> str:
    """A domain as lists hold it: lowercase, no scheme, path, port or www."""
    return url_domain(domain.strip())


def domain_error(domain: str) -> str:
    """Why a value is not a domain a list can hold (empty when it is)."""
    if re.search(r"\s", domain.strip()) or not _DOMAIN.fullmatch(domain_clean(domain)) or len(domain) > 253:
        return "Enter a domain such as example.com (no scheme or path; subdomains are covered)."
    return ""


@dataclass(frozen=True)
class TextLists:
    """The lead's lists, ready to match (selectors.text_lists reads them)."""

    terms: tuple = ()  # compile_terms(...)
    blocked: tuple[str, ...] = ()
    allowed: tuple[str, ...] = ()


# Which flag-category kind a hit raises, and the flag kind it is stored as.
HIT_FLAG_KIND = {
    "term": ("text_term", "text_term"),
    "phone": ("contact_phone", "contact_details"),
    "email": ("contact_email", "contact_details"),
    "url": ("contact_url", "contact_details"),
    "handle": ("contact_handle", "contact_details"),
    "domain": ("blocked_domain", "blocked_domain"),
}
_WHAT = {
    "term": "listed term",
    "phone": "phone number",
    "email": "e-mail address",
    "url": "URL",
    "handle": "messenger handle",
    "domain": "blocked domain",
}


def text_hits(lines: Sequence[tuple[str, float]], codes: Sequence[str], lists: TextLists) -> list[TextHit]:
    """Everything the lists and the contact patterns find in an image's text
    lines (text, confidence) and decoded codes."""
    contacts = contact_hits(lines, allowed_domains=lists.allowed) + code_hits(codes, allowed_domains=lists.allowed)
    # Blocked domains are looked for among every URL and address, allowed ones included
    # (an allow-list entry for a parent domain does not unblock a listed subdomain).
    every_url = contact_hits(lines) + code_hits(codes)
    return (
        term_hits(lines, lists.terms)
        + contacts
        + blocked_domain_hits(every_url, blocked=lists.blocked, allowed=lists.allowed)
    )


def text_signals(image_text, *, rules: Sequence, lists: TextLists) -> list:
    """The policy's signals from what an image says: one per enabled text flag
    category (`rules`: FlagCategory rows, or anything with name, kind and the
    two thresholds) that found something, scored by its most confident
    reading, its reason naming what was read."""
    from moderation.policy import Signal

    wanted = {rule.kind: rule for rule in rules if rule.kind in {k for k, _ in HIT_FLAG_KIND.values()}}
    if image_text is None or not wanted or not (image_text.lines or image_text.codes):
        return []
    lines = [(line.text, line.confidence) for line in image_text.lines]
    hits = text_hits(lines, [code.text for code in image_text.codes], lists)
    signals = []
    for category_kind, rule in wanted.items():
        found = [h for h in hits if HIT_FLAG_KIND[h.kind][0] == category_kind]
        if not found:
            continue
        found.sort(key=lambda h: -h.confidence)
        best = found[0]
        shown = ", ".join(
            f"{_WHAT[h.kind]} {h.value!r}"
            + (f" in {h.matched!r}" if h.matched.lower() != h.value else "")
            + (" (QR code)" if h.source == "code" else "")
            for h in found[:3]
        )
        signals.append(
            Signal(
                HIT_FLAG_KIND[best.kind][1],
                rule.name,
                best.confidence,
                rule.review_threshold,
                rule.reject_threshold,
                f"read in the image: {shown}",
                {
                    "matches": [
                        {
                            "kind": h.kind,
                            "matched": h.matched,
                            "value": h.value,
                            "source": h.source,
                            "confidence": round(h.confidence, 4),
                        }
                        for h in found[:10]
                    ],
                },
            )
        )
    return signals
