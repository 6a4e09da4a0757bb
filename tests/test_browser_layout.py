"""The Segment tab's layout in a real browser (headless Chromium): on a 400 px phone screen the canvas follows the
upload, no icon covers the picture's corner (there and at 1400 px), and after an action started far from the
canvas (Segment everything at the foot of the input column, Run on a phone) the canvas scrolls into view.
Skips when Chromium or chromedriver is not installed."""
from __future__ import annotations

from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait
from test_browser import app_url, click_image_pixel  # noqa: F401 (app_url: a fixture, the app)
from web import chromium, needs_chromium

CATS = Path(__file__).resolve().parents[1] / "examples" / "000000555705.jpg"
WAIT_S = 60
RECT = "const b = arguments[0].getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom];"
# the element hit 3 px inside the top-right corner of the picture as shown (object-fit: contain, centred)
CORNER_HIT = ("const i = arguments[0], b = i.getBoundingClientRect();"
              "const s = Math.min(b.width / i.naturalWidth, b.height / i.naturalHeight);"
              "const x = b.left + (b.width + i.naturalWidth * s) / 2 - 3;"
              "const y = b.top + (b.height - i.naturalHeight * s) / 2 + 3;"
              "const e = document.elementFromPoint(x, y); return e === i ? 'picture' : e.outerHTML.slice(0, 120);")
IN_VIEW = "const b = arguments[0].getBoundingClientRect(); return b.top >= 0 && b.bottom <= window.innerHeight;"

pytestmark = needs_chromium


def upload_cats(browser, url: str) -> None:
    browser.get(url)
    upload = WebDriverWait(browser, WAIT_S).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, "#segment-input input[type=file]")))
    upload.send_keys(str(CATS))
    status = browser.find_element(By.ID, "segment-status")
    WebDriverWait(browser, WAIT_S).until(lambda _: "Click on the image" in status.text)


def canvas_img(browser):
    return browser.find_element(By.CSS_SELECTOR, "#segment-canvas img")


def test_on_a_phone_the_canvas_follows_the_upload_and_run_brings_it_into_view(app_url):
    with chromium("--window-size=400,900") as browser:
        upload_cats(browser, app_url)
        upload = browser.execute_script(RECT, browser.find_element(By.ID, "segment-input"))
        canvas = browser.execute_script(RECT, browser.find_element(By.ID, "segment-canvas"))
        assert 0 <= canvas[1] - upload[3] <= 40, (upload, canvas)  # right under the upload, nothing between
        assert browser.execute_script(CORNER_HIT, canvas_img(browser)) == "picture"
        status = browser.find_element(By.ID, "segment-status")
        click_image_pixel(browser, canvas_img(browser), 420, 150)
        WebDriverWait(browser, WAIT_S).until(lambda _: "1 mask" in status.text)
        run = browser.find_element(By.ID, "segment-run")
        browser.execute_script("arguments[0].scrollIntoView({block: 'end'})", run)
        assert not browser.execute_script(IN_VIEW, canvas_img(browser))  # Run is a screen below the canvas
        run.click()
        WebDriverWait(browser, WAIT_S).until(lambda _: browser.execute_script(IN_VIEW, canvas_img(browser)))


def test_segment_everything_far_down_the_page_brings_the_canvas_into_view(app_url):
    with chromium("--window-size=1400,1000") as browser:
        upload_cats(browser, app_url)
        assert browser.execute_script(CORNER_HIT, canvas_img(browser)) == "picture"
        browser.find_element(By.CSS_SELECTOR, "#segment-everything-accordion button").click()
        button = WebDriverWait(browser, WAIT_S).until(ec.element_to_be_clickable((By.ID, "segment-everything")))
        browser.execute_script("arguments[0].scrollIntoView({block: 'end'})", button)
        assert not browser.execute_script(IN_VIEW, canvas_img(browser))
        button.click()
        line = browser.find_element(By.ID, "segment-everything-status")
        WebDriverWait(browser, 300).until(lambda _: "Done: " in line.text)
        WebDriverWait(browser, WAIT_S).until(lambda _: browser.execute_script(IN_VIEW, canvas_img(browser)))
