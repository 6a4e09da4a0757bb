"""Segment everything's many-mask view in a real browser (headless Chromium, 1400 x 1000): the cats example on
the offline model; while it runs the estimate line and the progress bar do not overlap; then the mask list has a
row per mask, largest first, a picked row changes the canvas and the downloads' JSON holds that one mask.
Skips when Chromium or chromedriver is not installed."""
from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from test_browser import app_url  # noqa: F401 (a fixture: the app, whose Segment tab opens on the offline model)
from web import chromium, needs_chromium

CATS = Path(__file__).resolve().parents[1] / "examples" / "000000555705.jpg"
WAIT_S = 30
AREAS = "[role=gridcell][data-col='1']"  # the mask list's area cells of the rows in view
# the bounding rects of the estimate line and of every progress bar shown: [line, [bars]]
RECTS = ("const r = e => { const b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };"
         "const bars = [...document.querySelectorAll('.progress-bar, .progress-level, .progress-text, .meta-text')]"
         "  .filter(e => e.offsetParent !== null && e.getBoundingClientRect().width > 0);"
         "return [r(document.getElementById('segment-everything-status')), bars.map(r)];")

pytestmark = needs_chromium


def overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_many_masks_are_listed_picked_highlighted_and_downloaded_alone(app_url):
    with chromium("--window-size=1400,1000") as browser:
        wait, slow = WebDriverWait(browser, WAIT_S), WebDriverWait(browser, 300)
        browser.get(app_url)
        upload = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#segment-input input[type=file]")))
        upload.send_keys(str(CATS))
        status = browser.find_element(By.ID, "segment-status")
        wait.until(lambda _: "Click on the image" in status.text)
        browser.find_element(By.CSS_SELECTOR, "#segment-everything-accordion button").click()
        wait.until(ec.element_to_be_clickable((By.ID, "segment-everything"))).click()
        line = browser.find_element(By.ID, "segment-everything-status")
        seen = []  # (line rect, bar rects) while the run is in progress

        def done(_) -> bool:
            rect, bars = browser.execute_script(RECTS)
            if bars and "Done" not in line.text:
                seen.append((rect, bars))
            return "Done: " in line.text

        slow.until(done)
        assert seen, "no progress bar was seen while segment everything ran"
        assert not [(rect, bar) for rect, bars in seen for bar in bars if overlap(rect, bar)]
        masks = int(re.search(r"Done: (\d+) masks", line.text).group(1))
        assert masks > 12
        table = wait.until(ec.visibility_of_element_located((By.ID, "segment-mask-table")))
        # the grid renders only the rows in view; aria-rowcount counts them all, with the header row
        grid = table.find_element(By.CSS_SELECTOR, "[role=grid]")
        wait.until(lambda _: grid.get_attribute("aria-rowcount") == str(masks + 1))
        areas = [int(cell.text) for cell in table.find_elements(By.CSS_SELECTOR, AREAS)]
        assert len(areas) > 1 and areas == sorted(areas, reverse=True)
        every = browser.find_element(By.CSS_SELECTOR, "#segment-canvas img").get_attribute("src")
        table.find_element(By.CSS_SELECTOR, "[data-testid='cell-1-1']").click()
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#segment-canvas img").get_attribute("src") != every)
        browser.find_element(By.ID, "segment-downloads").click()
        link = slow.until(lambda d: next((a for a in d.find_elements(By.CSS_SELECTOR, "a[download]")
                                          if a.get_attribute("href").endswith("segment.json")), None))
        with urllib.request.urlopen(link.get_attribute("href"), timeout=WAIT_S) as response:
            masks = json.loads(response.read())["masks"]
        assert [m["area"] for m in masks] == [areas[1]]  # the second row: the second-largest mask alone
