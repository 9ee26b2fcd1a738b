"""Headless Chromium for the portal's tests (Debian's chromium through its chromedriver),
and what the tests ask of a page: axe-core's verdict, unlabelled controls, a visible focus,
its weight, a full-page screenshot.

The viewport's width is set through the DevTools protocol (Emulation.setDeviceMetrics
Override): a headless window cannot be narrower than 500 px, and a phone is 360.
"""

from __future__ import annotations

import base64
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from selenium import webdriver
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"
WIDTHS = (360, 1280)
HEIGHT = {360: 780, 1280: 900}
# A resource is an image by how it was asked for or by its name (map tiles, the QR code,
# Leaflet's markers); the page's weight is counted without them.
_IMAGE = re.compile(r"\.(png|jpe?g|gif|webp|avif|svg|ico|bmp)(\?|#|$)", re.IGNORECASE)


@dataclass(frozen=True)
class Violation:
    id: str
    impact: str
    help: str
    nodes: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.impact} {self.id}: {self.help} ({'; '.join(self.nodes[:5])})"


@dataclass(frozen=True)
class Resource:
    name: str
    kind: str  # initiatorType, or "navigation"
    bytes: int

    @property
    def image(self) -> bool:
        return self.kind in ("img", "image") or bool(_IMAGE.search(self.name))


def replaced(old: WebElement) -> Callable[[Any], bool]:
    """A wait condition: the page `old` belonged to is gone. Chromium says so either as a
    stale element or, when the node's document went mid-question, as an inspector error
    ("does not belong to the document"), which selenium's staleness_of does not catch."""

    def gone(_: Any) -> bool:
        try:
            old.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            if "does not belong to the document" in str(exc):
                return True
            raise
        return False

    return gone


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    for program in (CHROMIUM, CHROMEDRIVER):
        if shutil.which(program) is None:
            return f"{program} not found: deploy/local/chromium.py installs it (make test does)"
    return None


class Browser:
    def __init__(self, base_url: str, axe_script: Path) -> None:
        self.base_url = base_url.rstrip("/")
        self._axe = axe_script.read_text(encoding="utf-8")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in (
            "--headless=new",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
            "--lang=th-TH",
            # Nothing of the machine's: no extensions, sync or background fetches that would
            # add requests to a page's weight.
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
        ):
            options.add_argument(arg)
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.set_page_load_timeout(60)
        # axe-core on a long page of a busy two-core machine takes seconds, not thirty.
        self.driver.set_script_timeout(120)
        # Every page is weighed as a first visit: nothing may come from the cache.
        self.cdp("Network.enable")
        self.cdp("Network.setCacheDisabled", cacheDisabled=True)
        self.width = 1280

    def quit(self) -> None:
        self.driver.quit()

    def cdp(self, command: str, **params: Any) -> dict[str, Any]:
        return cast(dict[str, Any], self.driver.execute_cdp_cmd(command, params))

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    # ------------------------------------------------------------------ navigation

    def resize(self, width: int) -> None:
        self.width = width
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=HEIGHT.get(width, 900),
            deviceScaleFactor=1,
            mobile=width < 600,
        )

    @contextmanager
    def without_javascript(self) -> Iterator[None]:
        """The page's own scripts off (the tests' still run, through the driver)."""
        self.cdp("Emulation.setScriptExecutionDisabled", value=True)
        try:
            yield
        finally:
            self.cdp("Emulation.setScriptExecutionDisabled", value=False)

    def open(self, path: str, width: int | None = None) -> None:
        if width is not None and width != self.width:
            self.resize(width)
        self.driver.get(self.base_url + path if path.startswith("/") else path)
        self.settle()

    def settle(self) -> None:
        """Until the document and its fonts are loaded (polled: a script left waiting on a
        page that navigates away would never answer)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.js(
                "return document.readyState === 'complete'"
                " && (!document.fonts || document.fonts.status === 'loaded')"
            ):
                return
            time.sleep(0.1)
        raise AssertionError(f"{self.path} not loaded within 60 s")

    def click_and_wait(self, element: WebElement) -> None:
        """Click what leads to another page (a link, a form's button) and wait for that
        page: the old one gone, the new one loaded."""
        old = self.find("html")
        element.click()
        WebDriverWait(self.driver, 60).until(replaced(old))
        self.settle()

    @property
    def path(self) -> str:
        return str(self.js("return location.pathname + location.search"))

    def text(self) -> str:
        return str(self.js("return document.body ? document.body.innerText : ''"))

    def source(self) -> str:
        return str(self.driver.page_source)

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list[WebElement]:
        return list(self.driver.find_elements(By.CSS_SELECTOR, css))

    def exists(self, css: str) -> bool:
        try:
            self.find(css)
        except NoSuchElementException:
            return False
        return True

    def reload_until(self, what: str, check: Callable[[], bool], *, timeout: float = 60.0) -> None:
        """Reload the page until `check()`: the portal's read model follows the topics."""
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{what}: not on {self.path} within {timeout:.0f} s\n{self.text()[:2000]}"
                )
            time.sleep(1)
            self.driver.refresh()
            self.settle()

    # ------------------------------------------------------------------ what is asked of a page

    def axe(self) -> list[Violation]:
        """axe-core's violations of the page as it is (all of its rules, WCAG 2.x AA and
        best practices)."""
        if not self.js("return typeof window.axe === 'object'"):
            self.js(self._axe)
        result = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {resultTypes: ['violations']})"
            "  .then(r => done(r.violations))"
            "  .catch(e => done({error: String(e)}));"
        )
        if isinstance(result, dict) and "error" in result:
            raise AssertionError(f"axe.run failed: {result['error']}")
        return [
            Violation(
                v["id"],
                v.get("impact") or "",
                v["help"],
                tuple(" ".join(n["target"]) if n.get("target") else "?" for n in v["nodes"]),
            )
            for v in result
        ]

    def overflow(self) -> list[str]:
        """What sticks out of the viewport sideways, making the whole page scroll (a wide
        table in a box of its own that scrolls is fine): empty when nothing does."""
        found = self.js(
            """
            const width = document.documentElement.clientWidth;
            if (document.documentElement.scrollWidth <= width) return [];
            const out = [];
            for (const el of document.body.querySelectorAll('*')) {
              const box = el.getBoundingClientRect();
              if (box.right > width + 1 && getComputedStyle(el).position !== 'fixed') {
                let inside = false;  // within something that scrolls by itself
                for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
                  const o = getComputedStyle(p).overflowX;
                  if (o === 'auto' || o === 'scroll' || o === 'hidden') { inside = true; break; }
                }
                if (!inside) out.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
                  + (el.className && typeof el.className === 'string' ? '.' + el.className : '')
                  + ' right ' + Math.round(box.right) + 'px');
              }
            }
            return out.slice(0, 8);
            """
        )
        return [str(x) for x in found]

    def lang(self) -> str:
        return str(self.js("return document.documentElement.getAttribute('lang') || ''"))

    def unlabelled_controls(self) -> list[str]:
        """Form controls a screen reader would announce without a name: no <label> (for=
        or around it), aria-label or aria-labelledby."""
        found = self.js(
            """
            const out = [];
            for (const el of document.querySelectorAll('input, select, textarea')) {
              const type = (el.getAttribute('type') || '').toLowerCase();
              if (['hidden', 'submit', 'button', 'reset', 'image'].includes(type)) continue;
              const labelled = (el.labels && [...el.labels].some(l => l.textContent.trim()))
                || (el.getAttribute('aria-label') || '').trim()
                || [...(el.getAttribute('aria-labelledby') || '').split(/\\s+/)]
                     .some(id => id && document.getElementById(id)
                                 && document.getElementById(id).textContent.trim());
              if (!labelled) out.push(el.outerHTML.slice(0, 160));
            }
            return out;
            """
        )
        return [str(x) for x in found]

    def unseen_focus(self, stops: int = 40) -> tuple[int, list[str]]:
        """Tab from the top of the page through its first `stops` links and controls, and
        name those whose look does not change when they have the focus (no outline, no new
        box shadow, the same background, colour, border and underline as without it):
        (how many were focused, those that show nothing)."""
        self.js("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);")
        self.find("body").send_keys(Keys.TAB)
        style = """
            const el = arguments[0] || document.activeElement;
            if (!el || el === document.body) return null;
            const s = getComputedStyle(el);
            return {what: el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + ' "' +
                          (el.textContent || el.value || '').trim().slice(0, 30) + '"',
                    outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0,
                    shadow: s.boxShadow, background: s.backgroundColor, color: s.color,
                    border: s.borderColor + ' ' + s.borderWidth,
                    decoration: s.textDecorationLine + ' ' + s.textDecorationThickness};
        """
        focused: list[dict[str, Any]] = []
        for n in range(stops):
            seen = self.js(style)
            if seen is None or self.js(
                "return document.activeElement.hasAttribute('data-focus-probe')"
            ):
                break  # nothing focusable, or round the page and back to the first
            self.js("document.activeElement.setAttribute('data-focus-probe', arguments[0])", n)
            focused.append(seen)
            ActionChains(self.driver).send_keys(Keys.TAB).perform()
        # The same elements without the focus: what the focus changes is what shows it.
        self.js("document.activeElement && document.activeElement.blur()")
        unseen = []
        for n, with_focus in enumerate(focused):
            element = self.js(
                "return document.querySelector(`[data-focus-probe='${arguments[0]}']`)", n
            )
            without = self.js(style, element) if element is not None else None
            if without is None:
                continue
            shows = (with_focus["outline"] and not without["outline"]) or any(
                with_focus[k] != without[k]
                for k in ("shadow", "background", "color", "border", "decoration")
            )
            if not shows:
                unseen.append(with_focus["what"])
        self.js(
            "document.querySelectorAll('[data-focus-probe]')"
            ".forEach(e => e.removeAttribute('data-focus-probe'))"
        )
        return len(focused), unseen

    def resources(self) -> list[Resource]:
        entries = self.js(
            """
            return performance.getEntriesByType('navigation')
              .concat(performance.getEntriesByType('resource'))
              .map(e => ({name: e.name, kind: e.entryType === 'navigation' ? 'navigation'
                          : e.initiatorType,
                          bytes: Math.max(e.transferSize || 0, e.encodedBodySize || 0)}));
            """
        )
        return [Resource(e["name"], e["kind"], int(e["bytes"])) for e in entries]

    def weight(self) -> tuple[int, list[Resource]]:
        """Bytes the page took over the network without its images (the document, style
        sheets, scripts, fonts, data), as the Performance API counts them; and what."""
        counted = [r for r in self.resources() if not r.image]
        return sum(r.bytes for r in counted), counted

    def screenshot(self, name: str) -> Path:
        """The whole page (not only the viewport) at the current width, as a PNG."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        target = SCREENSHOTS / f"{name}-{self.width}.png"
        size = self.cdp("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": self.width, "height": size["height"], "scale": 1}
        shot = self.cdp(
            "Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip
        )
        target.write_bytes(base64.b64decode(shot["data"]))
        return target


@contextmanager
def chromium(base_url: str, axe_script: Path) -> Iterator[Browser]:
    """A headless Chromium on `base_url`, for a session of tests; fails if none is installed."""
    missing = chromium_missing()
    if missing:
        pytest.fail(missing)
    b = Browser(base_url, axe_script)
    try:
        yield b
    finally:
        b.quit()
