"""The browser checks themselves, on pages made to pass and pages made to fail, served from a
temporary directory: a check that cannot fail proves nothing about the portal. Needs
Chromium, not the stack."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator

import pytest

from deploy.local import web_assets
from tests.portal.e2e.browser import Browser, chromium

pytestmark = pytest.mark.e2e

GOOD = """<!doctype html><html lang="th"><head><meta charset="utf-8"><title>ดี</title></head>
<body><main><h1>หน้าทดสอบ</h1><a href="/a">ลิงก์หนึ่ง</a>
<form><label for="q">คำค้น</label><input id="q" name="q">
<label>ชื่อ <input name="n"></label><input aria-label="อีเมล" name="e">
<button type="submit">ค้นหา</button></form><img src="/big.png" alt="รูป"></main></body></html>
"""
BAD = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>bad</title>
<style>a:focus, input:focus { outline: none }</style><script src="/big.js"></script></head>
<body><main><h1>Test</h1><a href="/a">one</a><a href="/b">two</a>
<form><input name="q"><select name="s"><option>x</option></select></form>
<img src="/big.png" alt="a picture"></main></body></html>
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("site")
    (root / "good.html").write_text(GOOD, encoding="utf-8")
    (root / "bad.html").write_text(BAD, encoding="utf-8")
    (root / "script.html").write_text(
        '<html lang="th"><meta charset="utf-8"><body><p id="p">ก่อน</p>'
        "<script>document.getElementById('p').textContent = 'หลัง'</script></body></html>",
        encoding="utf-8",
    )
    (root / "big.js").write_text("var x = '" + "a" * 400_000 + "';\n")
    (root / "big.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 500_000)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser(site: str) -> Iterator[Browser]:
    with chromium(site, web_assets.axe_script()) as b:
        yield b


def test_a_page_made_to_pass_passes(browser: Browser) -> None:
    browser.open("/good.html", 360)
    assert browser.lang() == "th"
    assert browser.unlabelled_controls() == []
    stops, unseen = browser.unseen_focus()
    assert stops == 5 and unseen == []
    assert [v for v in browser.axe() if v.impact in ("serious", "critical")] == []
    weight, counted = browser.weight()
    assert weight < 10_000, counted  # the 500 KB image is not counted


def test_a_page_made_to_fail_fails_every_check(browser: Browser) -> None:
    browser.open("/bad.html", 1280)
    assert browser.lang() == "en"
    assert len(browser.unlabelled_controls()) == 2
    stops, unseen = browser.unseen_focus()
    # The select keeps Chromium's own focus ring; the links and the input lost theirs.
    assert stops == 4 and unseen == ['a "one"', 'a "two"', 'input ""'], unseen
    assert {"label", "select-name"} <= {v.id for v in browser.axe() if v.impact == "critical"}
    weight, counted = browser.weight()
    assert 400_000 < weight < 450_000, counted
    assert not any(r.image for r in counted)


def test_a_screenshot_is_of_the_whole_page_at_its_width(browser: Browser) -> None:
    browser.open("/good.html", 360)
    shot = browser.screenshot("browser-check")
    try:
        header = shot.read_bytes()[16:24]
        width, height = int.from_bytes(header[:4], "big"), int.from_bytes(header[4:], "big")
        assert width == 360 and height >= 200
    finally:
        shot.unlink()


def test_page_scripts_can_be_turned_off_and_on(browser: Browser) -> None:
    with browser.without_javascript():
        browser.open("/script.html", 1280)
        assert browser.text() == "ก่อน"
        assert browser.js("return 1 + 1") == 2  # the test's own scripts still run
    browser.open("/script.html")
    assert browser.text() == "หลัง"
