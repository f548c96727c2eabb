"""The checks every page passes at every size: no horizontal overflow, no
console error, no broken image, no serious or critical axe-core violation.
A screenshot of each page at each size is kept under test-artifacts/screenshots/."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import ARTIFACTS, ROOT

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ARTIFACTS / "screenshots"
SIZES = {"desktop": (1440, 900), "phone": (390, 844)}
BLOCKING_IMPACTS = ("serious", "critical")

# Every image eager, then wait for each to load or fail (five seconds at most
# each): a lazy image below the fold is still checked.
_IMAGES_SETTLED = """async () => {
  const images = Array.from(document.images);
  images.forEach(img => { img.loading = "eager"; });
  await Promise.all(images.map(img => img.complete ? null : new Promise(done => {
    img.addEventListener("load", done, { once: true });
    img.addEventListener("error", done, { once: true });
    setTimeout(done, 5000);
  })));
}"""

_BROKEN_IMAGES = """() => Array.from(document.images)
  .filter(img => img.getAttribute("src") && img.complete && img.naturalWidth === 0)
  .map(img => img.currentSrc || img.src)"""

# What sticks out past the right edge, for the failure message.
_OVERFLOW = """() => {
  const width = window.innerWidth;
  if (document.documentElement.scrollWidth <= width) return null;
  const culprits = Array.from(document.querySelectorAll("body *"))
    .filter(el => el.getBoundingClientRect().right > width + 1)
    .filter(el => !el.parentElement || el.parentElement.getBoundingClientRect().right <= width + 1)
    .slice(0, 5)
    .map(el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
               (el.className && typeof el.className === "string" ? "." + el.className.trim().replace(/\\s+/g, ".") : "") +
               " (right " + Math.round(el.getBoundingClientRect().right) + ")");
  return { scrollWidth: document.documentElement.scrollWidth, innerWidth: width, culprits };
}"""

_AXE_RUN = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.slice(0, 3).map(n => n.target.join(" ")),
  }));
}"""


@dataclass
class PageReport:
    """What one page showed at one size; `problems` empty when it passed."""

    name: str
    size: str
    status: int | None = None
    problems: list[str] = field(default_factory=list)
    screenshot: Path | None = None


def watch_console(page) -> list[tuple[str, str]]:
    """Collect console errors and uncaught exceptions from now on, each with
    the URL it is about."""
    errors: list[tuple[str, str]] = []

    def on_console(message) -> None:
        if message.type == "error":
            errors.append((message.text, message.location.get("url", "")))

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append((f"uncaught: {error}", "")))
    return errors


def check_current_page(
    page, *, name: str, size: str, console: list[tuple[str, str]], status: int = 200, axe_ignore=()
) -> PageReport:
    """Check the page now shown. A page answered on purpose with an error
    status (403, 404, 429) logs that status for its own document; that line
    alone is not a console error."""
    report = PageReport(name=name, size=size)
    page.evaluate(_IMAGES_SETTLED)
    overflow = page.evaluate(_OVERFLOW)
    if overflow:
        report.problems.append(
            f"horizontal overflow: scrollWidth {overflow['scrollWidth']} > innerWidth {overflow['innerWidth']}; "
            f"sticking out: {', '.join(overflow['culprits']) or '?'}"
        )
    for src in page.evaluate(_BROKEN_IMAGES):
        report.problems.append(f"broken image: {src}")
    for text, url in console:
        if status != 200 and url == page.url and f"status of {status} " in text:
            continue
        report.problems.append(f"console error: {text}" + (f" ({url})" if url else ""))
    page.add_script_tag(path=str(AXE))
    for violation in page.evaluate(_AXE_RUN):
        if violation["impact"] in BLOCKING_IMPACTS and violation["id"] not in axe_ignore:
            report.problems.append(
                f"axe {violation['impact']} {violation['id']}: {violation['help']} at {violation['targets']}"
            )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    report.screenshot = SCREENSHOTS / f"{name}-{size}.png"
    page.screenshot(path=str(report.screenshot), full_page=True)
    return report
