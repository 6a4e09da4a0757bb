"""The Segment tab in a real browser (headless Chromium through Selenium): SAM's levels for one click (and
the Level control off for another prompt); rejected uploads. Skips when Chromium or chromedriver is not installed."""
from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait
from test_browser import app_url, click_image_pixel  # noqa: F401 (app_url: the app with a tiny SAM, a fixture)
from web import chromium, needs_chromium

WAIT_S = 30
pytestmark = needs_chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    with chromium("--window-size=1400,1000") as driver:
        yield driver


def choose_model(driver: webdriver.Chrome, model_id: str) -> None:
    """Pick ``model_id`` in the Segment tab's model list."""
    box = driver.find_element(By.CSS_SELECTOR, "#segment-model input")
    box.click()
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(model_id)
    option = WebDriverWait(driver, WAIT_S).until(ec.element_to_be_clickable(
        (By.XPATH, f"//ul[@role='listbox']/li[@aria-label='{model_id}' or starts-with(@aria-label, '{model_id} ')]")))
    option.click()
    box.send_keys(Keys.ESCAPE)


def level_input(driver: webdriver.Chrome, level: str):
    return driver.find_element(By.CSS_SELECTOR, f"#segment-level input[value='{level}']")


def test_the_level_control_chooses_which_of_a_sam_clicks_masks_is_drawn_and_follows_the_result(app_url, browser,
                                                                                                coco_image_path):
    wait = WebDriverWait(browser, WAIT_S)
    browser.get(app_url)
    level = wait.until(ec.presence_of_element_located((By.ID, "segment-level")))
    assert not level_input(browser, "whole").is_enabled()  # the offline default model has no levels
    assert "answers a click with one mask: no levels" in level.text
    choose_model(browser, "sam-vit-base")
    wait.until(lambda _: level_input(browser, "whole").is_enabled())
    upload = browser.find_element(By.CSS_SELECTOR, "#segment-input input[type=file]")
    upload.send_keys(str(coco_image_path))
    status = browser.find_element(By.ID, "segment-status")
    wait.until(lambda _: "Click on the image" in status.text)
    click_image_pixel(browser, browser.find_element(By.CSS_SELECTOR, "#segment-canvas img"), 420, 150)
    wait.until(lambda _: "3 masks" in status.text)
    picks = browser.find_element(By.ID, "segment-picks")
    wait.until(lambda _: all(f"{name} · " in picks.text for name in ("whole", "part", "subpart")))
    drawn = {}
    for name, rank in (("whole", "0"), ("subpart", "2")):
        browser.execute_script("arguments[0].click()", level_input(browser, name))
        wait.until(lambda _: browser.find_element(By.CSS_SELECTOR, f"#segment-picks input[value='{rank}']")
                   .is_selected())  # the canvas comes in the same reply
        drawn[name] = browser.find_element(By.CSS_SELECTOR, "#segment-canvas img").get_attribute("src")
    assert drawn["whole"] != drawn["subpart"]
    click_image_pixel(browser, browser.find_element(By.CSS_SELECTOR, "#segment-canvas img"), 200, 300)
    wait.until(lambda _: not level_input(browser, "whole").is_enabled())  # two points: not one click's levels
    assert "this result comes from another prompt" in level.text
    browser.find_element(By.ID, "segment-clear").click()
    wait.until(lambda _: level_input(browser, "whole").is_enabled())  # cleared: the next click may have levels


def toasts(driver: webdriver.Chrome) -> list[str]:
    return driver.execute_script("return Array.from(document.querySelectorAll('.toast-body')).map(t => t.innerText)")


@pytest.mark.parametrize("name, content", [
    ("tiny.png", "1x1"), ("truncated.jpg", "truncated"), ("notimage.png", "text")])
def test_a_rejected_upload_says_why_once_and_the_image_in_use_stays(app_url, browser, coco_image_path, tmp_path,
                                                                    name, content):
    from PIL import Image

    bad = tmp_path / name
    if content == "1x1":
        Image.new("RGB", (1, 1)).save(bad)
    elif content == "truncated":
        bad.write_bytes(coco_image_path.read_bytes()[:5000])
    else:
        bad.write_text("this is not an image\n")
    wait = WebDriverWait(browser, WAIT_S)
    browser.get(app_url)
    upload = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#segment-input input[type=file]")))
    upload.send_keys(str(coco_image_path))
    status = browser.find_element(By.ID, "segment-status")
    wait.until(lambda _: "Click on the image" in status.text)
    shown = browser.find_element(By.CSS_SELECTOR, "#segment-input img").get_attribute("src")
    canvas = browser.find_element(By.CSS_SELECTOR, "#segment-canvas img").get_attribute("src")

    browser.find_element(By.CSS_SELECTOR, "#segment-input input[type=file]").send_keys(str(bad))
    wait.until(lambda _: "⚠️" in status.text)
    sentence = status.text.split("⚠️", 1)[1].strip()
    wait.until(lambda _: browser.find_elements(By.CSS_SELECTOR, "#segment-input img"))
    assert browser.find_element(By.CSS_SELECTOR, "#segment-input img").get_attribute("src").split("/")[-1] \
        == shown.split("/")[-1]  # the input shows the image in use
    messages = toasts(browser)
    assert len(messages) == 1 and sentence in messages[0] and "Error" not in messages[0]
    assert "prepared" not in status.text
    assert browser.find_element(By.CSS_SELECTOR, "#segment-canvas img").get_attribute("src") == canvas
    click_image_pixel(browser, browser.find_element(By.CSS_SELECTOR, "#segment-canvas img"), 420, 150)
    wait.until(lambda _: "1 mask" in status.text)  # the click segments the image in use
    browser.find_element(By.CSS_SELECTOR, "#segment-everything-accordion button").click()
    wait.until(ec.element_to_be_clickable((By.ID, "segment-everything"))).click()
    line = browser.find_element(By.ID, "segment-everything-status")
    WebDriverWait(browser, 300).until(lambda _: "Done: " in line.text)  # on the image in use, not the rejected file
    browser.find_element(By.ID, "segment-downloads").click()
    link = wait.until(lambda d: next((a for a in d.find_elements(By.CSS_SELECTOR, "a[download]")
                                      if a.get_attribute("href").endswith("segment.json")), None))
    with urllib.request.urlopen(link.get_attribute("href"), timeout=WAIT_S) as response:
        assert json.loads(response.read())["image_size"] == [427, 640]
