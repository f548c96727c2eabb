"""Issue 28, item 1: the fuzzer's corpus and findings (tests/fuzz/corpus/),
replayed. Every file gets an answer from validation (accepted, or a 4xx with
its code), never another exception; one that breaks a property is written to
findings/ by `make fuzz` and stays here once fixed. (The CPU budgets are the
fuzzer's and the benchmark's: no timing is asserted in the suite.)"""

from pathlib import Path

import pytest

from moderation.errors import ApplicationError
from moderation.validation import validate_upload_image
from tests.fuzz.fuzz_intake import corpus_paths, read_input

CORPUS = Path(__file__).resolve().parents[1] / "fuzz" / "corpus"
FILES = corpus_paths()


def test_the_corpus_has_a_seed_of_each_format():
    assert {p.suffix for p in (CORPUS / "seeds").glob("*")} >= {".jpg", ".png", ".gif", ".webp", ".bmp"}


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name}" for p in FILES])
def test_every_corpus_file_is_accepted_or_refused_with_a_code(path):
    try:
        info = validate_upload_image(read_input(path))
    except ApplicationError as exc:
        assert 400 <= exc.status < 500 and exc.code
    else:
        assert info.width > 0 and info.height > 0
    if path.parent.name == "seeds":  # the seeds are ordinary files
        assert validate_upload_image(path.read_bytes())
