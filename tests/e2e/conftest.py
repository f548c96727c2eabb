import pytest

from tests.conftest import ARTIFACTS


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-final.png"), full_page=True)
    context.close()


@pytest.fixture
def shot(page, request):
    """Save a screenshot of the current step as a test artifact."""
    counter = iter(range(1, 100))

    def take(step: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{next(counter):02d}-{step}.png"), full_page=True)

    return take
