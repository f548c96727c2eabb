"""Matching what an image says (moderation.text_match): normalisation against
leetspeak, confusable letters and spacing; the three term modes; each kind of
contact detail; domain block- and allow-lists, QR targets included."""

from __future__ import annotations

import pytest

from classifier.contracts import DecodedCode, ImageText, TextLine
from moderation.policy import decide
from moderation.text_match import (
    Term,
    TextLists,
    code_hits,
    compile_terms,
    contact_hits,
    domain_clean,
    domain_error,
    normalise,
    term_error,
    term_hits,
    text_signals,
)


@pytest.mark.parametrize(
    "written",
    ["FREE", "fr33", "Fr€€", "f r e e", "f.r.e.e", "f-r-e-e", "frее", "ｆｒｅｅ", "frée", "ƒree".replace("ƒ", "f")],
)
def test_normalise_undoes_leetspeak_confusables_and_spacing(written):
    # "frее" above is written with two Cyrillic е; "ｆｒｅｅ" is full-width.
    assert normalise(written) == "free"


def test_normalise_keeps_words_apart():
    assert normalise("Buy  NOW,   cheap") == "buy now, cheap"
    assert normalise("a b") == "a b"  # two letters apart are not a hidden word


def _found(terms, text, confidence=0.9):
    return [(h.value, h.matched) for h in term_hits([(text, confidence)], compile_terms(terms))]


def test_a_word_term_matches_whole_words_only_however_written():
    terms = [Term("free", "word")]
    assert _found(terms, "F R E E shipping") == [("free", "F R E E shipping")]
    assert _found(terms, "100% fr33!") == [("free", "100% fr33!")]
    assert _found(terms, "freedom of speech") == []
    assert _found(terms, "carefree") == []


def test_an_exact_term_matches_anywhere():
    assert _found([Term("scam", "exact")], "SCAMMERS welcome") == [("scam", "SCAMMERS welcome")]


def test_a_regex_term_matches_the_text_as_read_and_normalised():
    terms = [Term(r"cheap\s+(pills|meds)", "regex")]
    assert _found(terms, "Cheap  pills here") == [(r"cheap\s+(pills|meds)", "Cheap  pills here")]
    assert _found(terms, "ch3ap m3ds") == [(r"cheap\s+(pills|meds)", "ch3ap m3ds")]
    assert _found(terms, "expensive pills") == []


def test_a_term_split_over_two_lines_is_found_at_the_lower_confidence():
    hits = term_hits([("call me for free", 0.9), ("delivery", 0.7)], compile_terms([Term("free delivery", "word")]))
    assert [(h.value, h.confidence) for h in hits] == [("free delivery", 0.7)]


@pytest.mark.parametrize(
    "pattern,mode",
    [
        ("(a+)+", "regex"),
        (r"(\w+)*x", "regex"),
        (r"(a)\1", "regex"),
        ("(", "regex"),
        ("", "word"),
        ("x" * 201, "word"),
        ("x", "fuzzy"),
    ],
)
def test_dangerous_or_invalid_terms_are_refused(pattern, mode):
    assert term_error(pattern, mode)
    assert compile_terms([Term(pattern, mode)]) == ()


def _contacts(text, **kwargs):
    return [(h.kind, h.value) for h in contact_hits([(text, 0.9)], **kwargs)]


@pytest.mark.parametrize(
    "text,expected",
    [
        ("DM me on WhatsApp +44 7700 900123", [("phone", "+447700900123")]),
        ("call 555-019-9876", [("phone", "5550199876")]),
        ("(020) 7946 0958", [("phone", "02079460958")]),
        ("write to sales@example.com now", [("email", "sales@example.com")]),
        ("sales [at] example [dot] com", [("email", "sales@example.com")]),
        ("visit https://www.Shop.example.com/deal", [("url", "shop.example.com")]),
        ("go to cheapbags.shop", [("url", "cheapbags.shop")]),
        ("telegram: @cheapdeals", [("handle", "cheapdeals")]),
        ("t.me/cheapdeals", [("url", "t.me"), ("handle", "cheapdeals")]),
        ("Snapchat: bagsforless", [("handle", "bagsforless")]),
    ],
)
def test_each_kind_of_contact_detail(text, expected):
    assert _contacts(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Price 12.50 EUR",
        "born 2021-03-04",
        "size 42",
        "e.g. 3.5 kg at 12.30",
        "Sale 50% off",
        "file.jpg",
        "version 1.2.3",
    ],
)
def test_ordinary_words_and_numbers_are_not_contact_details(text):
    assert _contacts(text) == []


def test_a_number_wrapped_onto_the_next_line_is_one_phone_number():
    hits = contact_hits([("call +44 7700", 0.9), ("900123 today", 0.8)])
    assert ("phone", "+447700900123") in [(h.kind, h.value) for h in hits]


def test_an_allowed_domain_is_not_a_contact_detail():
    assert _contacts("see shop.ourplatform.com", allowed_domains=["ourplatform.com"]) == []
    assert _contacts("see shop.ourplatform.com") == [("url", "shop.ourplatform.com")]


def test_qr_targets_are_contact_details_too():
    hits = code_hits(["https://pay.scam.example/x", "tel:+447700900123", "mailto:a@b.com?subject=hi", "0123456789012"])
    assert [(h.kind, h.value, h.source) for h in hits] == [
        ("url", "pay.scam.example", "code"),
        ("phone", "447700900123", "code"),
        ("email", "a@b.com", "code"),
    ]


@pytest.mark.parametrize("value,clean", [("Example.COM", "example.com"), ("https://www.example.com/x", "example.com")])
def test_domains_are_kept_clean(value, clean):
    assert domain_clean(value) == clean and not domain_error(value)


@pytest.mark.parametrize("value", ["", "localhost", "exa mple.com", "-bad.com", "x" * 300 + ".com"])
def test_not_a_domain(value):
    assert domain_error(value)


class Rule:
    """A flag category as text_signals reads it (FlagCategory rows in service)."""

    def __init__(self, name, kind, review=0.6, reject=None):
        self.name, self.kind, self.review_threshold, self.reject_threshold = name, kind, review, reject


RULES = [
    Rule("text: listed term", "text_term"),
    Rule("contact: phone number", "contact_phone"),
    Rule("contact: e-mail address", "contact_email"),
    Rule("contact: URL", "contact_url"),
    Rule("contact: messenger handle", "contact_handle"),
    Rule("blocked domain", "blocked_domain", 0.5, 0.9),
]


def _image_text(*lines, codes=()):
    return ImageText(
        lines=tuple(
            TextLine(text, confidence, (0, 10 * i, 100, 10 * i + 9)) for i, (text, confidence) in enumerate(lines)
        ),
        codes=tuple(DecodedCode("QRCode", payload, (0, 0, 50, 50)) for payload in codes),
        read=True,
    )


def test_each_signal_is_a_flag_whose_reason_names_what_was_read():
    lists = TextLists(terms=compile_terms([Term("replica", "word")]), blocked=("scam.example",))
    text = _image_text(
        ("R3PLICA bags", 0.95),
        ("WhatsApp +44 7700 900123", 0.9),
        ("offers@bagmart.net", 0.8),
        ("DM @deals4u", 0.85),
        codes=["https://pay.scam.example/checkout"],
    )
    signals = text_signals(text, rules=RULES, lists=lists)
    by_category = {s.category: s for s in signals}
    assert set(by_category) == {r.name for r in RULES}
    assert by_category["text: listed term"].kind == "text_term"
    assert "'replica' in 'R3PLICA bags'" in by_category["text: listed term"].reason
    assert "'+447700900123'" in by_category["contact: phone number"].reason
    assert by_category["contact: phone number"].kind == "contact_details"
    assert by_category["contact: phone number"].score == 0.9
    assert "offers@bagmart.net" in by_category["contact: e-mail address"].reason
    assert "deals4u" in by_category["contact: messenger handle"].reason
    url = by_category["contact: URL"]
    assert "pay.scam.example" in url.reason and "(QR code)" in url.reason and url.score == 1.0
    blocked = by_category["blocked domain"]
    assert blocked.kind == "blocked_domain" and "'scam.example'" in blocked.reason
    assert blocked.detail["matches"][0]["value"] == "scam.example"

    result = decide({}, {}, signals=signals)
    assert result.verdict == "reject"  # the QR code's blocked domain, read with confidence 1.0 ≥ 0.9
    assert any("blocked domain" in reason and "scam.example" in reason for reason in result.reasons)


def test_a_disabled_flag_category_raises_nothing_and_thresholds_apply():
    text = _image_text(("call 555 019 9876", 0.55))
    assert text_signals(text, rules=[r for r in RULES if r.kind != "contact_phone"], lists=TextLists()) == []
    (signal,) = text_signals(text, rules=RULES, lists=TextLists())
    assert decide({}, {}, signals=[signal]).verdict == "approve"  # 0.55 < review threshold 0.6


def test_an_allow_list_entry_unblocks_its_domain():
    text = _image_text(codes=["https://good.example.com/"])
    lists = TextLists(blocked=("example.com",), allowed=("good.example.com",))
    assert text_signals(text, rules=RULES, lists=lists) == []


def test_no_text_no_signal():
    assert text_signals(None, rules=RULES, lists=TextLists()) == []
    assert text_signals(ImageText(read=True), rules=RULES, lists=TextLists()) == []
