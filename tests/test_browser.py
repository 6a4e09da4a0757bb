"""The app in a real browser (headless Chromium through Selenium): upload a COCO image, click on the
scaled-down and the full-screen image, check each click lands on the intended image pixel and a mask is
drawn, then open every tab; pick an example, click on its largest object and check the downloaded mask
against the COCO ground truth. Skips when Chromium or chromedriver is not installed."""
from __future__ import annotations

import io
import json
import os
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np

import pytest
from selenium import webdriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from app_weights import save_tiny_models
from PIL import Image

from seglab.formats import load_coco_gt
from seglab.interactive import mask_iou, next_click
from ui import build_demo, example_images
from web import chromium, needs_chromium, served

WAIT_S = 30
TABS = {"Semantic": "semantic-run", "Instance": "instance-run", "Panoptic": "panoptic-run", "Depth": "depth-run",
        "Compare": "compare-run", "Benchmark": "benchmark-summary"}
NEEDS = {"Semantic": "semantic", "Instance": "instance", "Panoptic": "panoptic", "Depth": "depth"}  # tab: its task
# the <img> element's size on screen, the picture's own size and how it is fitted in the element
IMAGE_BOX = ("const r = arguments[0].getBoundingClientRect();"
             "return [r.width, r.height, arguments[0].naturalWidth, arguments[0].naturalHeight,"
             "        getComputedStyle(arguments[0]).objectFit];")

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def app_url(tmp_path_factory) -> Iterator[str]:
    weights = save_tiny_models(tmp_path_factory.mktemp("weights"), ("sam-vit-base",))
    with served(build_demo(weights_dir=weights, results_dir=tmp_path_factory.mktemp("results"))) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    with chromium("--window-size=1100,1000") as driver:
        yield driver


def click_image_pixel(driver: webdriver.Chrome, img, x: int, y: int) -> float:
    """Click the displayed ``img`` where the picture's pixel (x, y) is shown, following the CSS
    object-fit that places the picture, centred, in the element; returns the display scale."""
    width, height, natural_w, natural_h, fit = driver.execute_script(IMAGE_BOX, img)
    assert fit in ("contain", "scale-down"), f"unexpected object-fit {fit}"
    scale = min(width / natural_w, height / natural_h, 1 if fit == "scale-down" else float("inf"))
    left, top = (width - natural_w * scale) / 2, (height - natural_h * scale) / 2
    dx, dy = left + (x + 0.5) * scale - width / 2, top + (y + 0.5) * scale - height / 2
    ActionChains(driver).move_to_element_with_offset(img, round(dx), round(dy)).click().perform()
    return scale


def last_point(driver: webdriver.Chrome, count: int) -> list[float]:
    """The last point of the prompt JSON once it holds ``count`` points."""
    box = driver.find_element(By.CSS_SELECTOR, "#segment-prompt textarea")
    WebDriverWait(driver, WAIT_S).until(lambda _: len(json.loads(box.get_property("value") or "{}")
                                                      .get("points", [])) == count)
    return json.loads(box.get_property("value"))["points"][-1]


def needs_line(driver: webdriver.Chrome, task: str) -> str:
    """The text of a tab's first line (what it needs to run here) once it is shown."""
    line = WebDriverWait(driver, WAIT_S).until(ec.visibility_of_element_located((By.ID, f"{task}-needs")))
    WebDriverWait(driver, WAIT_S).until(lambda _: "can run here" in line.text)
    return line.text


def test_clicks_land_on_the_image_pixel_and_every_tab_opens(app_url, browser, coco_image_path, tmp_path):
    wait = WebDriverWait(browser, WAIT_S)
    browser.get(app_url)
    line = needs_line(browser, "promptable")  # on page load, above everything else of the tab
    assert re.match(r"✅ \d+ of \d+ promptable models can run here: embedded-u2netp-grabcut", line)
    assert not any(b.is_displayed() for b in browser.find_elements(By.ID, "promptable-download"))  # its model is here
    upload = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#segment-input input[type=file]")))
    upload.send_keys(str(coco_image_path))
    status = browser.find_element(By.ID, "segment-status")
    wait.until(lambda _: "Click on the image" in status.text)
    canvas = browser.find_element(By.CSS_SELECTOR, "#segment-canvas img")
    before = canvas.get_attribute("src")

    scale = click_image_pixel(browser, canvas, 420, 150)
    assert scale < 1  # the 640 px wide picture is shown smaller than its own size
    assert last_point(browser, 1) == pytest.approx([420, 150], abs=2)
    wait.until(lambda _: "1 mask" in status.text)
    assert browser.find_element(By.CSS_SELECTOR, "#segment-canvas img").get_attribute("src") != before

    browser.find_element(By.CSS_SELECTOR, "#segment-canvas button[title=Fullscreen]").click()
    full = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#segment-canvas img"))
    wait.until(lambda d: d.execute_script(IMAGE_BOX, full)[0] > 900)  # the element now fills the window
    assert click_image_pixel(browser, full, 200, 300) == 1  # shown at its own size, centred in the window
    assert last_point(browser, 2) == pytest.approx([200, 300], abs=2)
    browser.find_element(By.CSS_SELECTOR, "#segment-canvas button[title='Exit fullscreen mode']").click()

    for tab, element in TABS.items():
        browser.find_element(By.XPATH, f"//button[@role='tab' and normalize-space()='{tab}']").click()
        wait.until(ec.visibility_of_element_located((By.ID, element)))
        if tab in NEEDS:  # offline (HF_HUB_OFFLINE=1): a missing model's line gives the command to fetch it
            line = needs_line(browser, NEEDS[tab])
            if "python -m seglab download" in line:
                download = wait.until(ec.visibility_of_element_located((By.ID, f"{NEEDS[tab]}-download")))
                assert not download.is_enabled() and "offline" in download.text
    assert browser.save_screenshot(str(tmp_path / "benchmark-tab.png"))


def test_a_bad_prompt_keeps_the_image_and_mask_and_fixing_it_just_works(app_url, browser, coco_image_path):
    wait = WebDriverWait(browser, WAIT_S)
    browser.get(app_url)
    upload = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#segment-input input[type=file]")))
    upload.send_keys(str(coco_image_path))
    status = browser.find_element(By.ID, "segment-status")
    wait.until(lambda _: "Click on the image" in status.text)
    click_image_pixel(browser, browser.find_element(By.CSS_SELECTOR, "#segment-canvas img"), 420, 150)
    wait.until(lambda _: "1 mask" in status.text)
    masked = browser.find_element(By.CSS_SELECTOR, "#segment-canvas img").get_attribute("src")
    if os.environ.get("SEGLAB_SCREENSHOT"):  # the README's picture of the Segment tab, refreshed on request
        browser.execute_script("window.scrollTo(0, 0)")
        assert browser.save_screenshot(os.environ["SEGLAB_SCREENSHOT"])

    box = browser.find_element(By.CSS_SELECTOR, "#segment-prompt textarea")
    box.clear()
    box.send_keys('{"boxes": [[100, 50, 500')  # broken JSON
    browser.find_element(By.ID, "segment-run").click()
    wait.until(lambda _: "not valid JSON" in status.text)
    canvas = browser.find_element(By.CSS_SELECTOR, "#segment-canvas img")
    assert canvas.is_displayed() and canvas.get_attribute("src") == masked  # the image and the last mask stay
    assert box.get_property("value") == '{"boxes": [[100, 50, 500'  # the text to fix is still there

    box.send_keys(", 400]]}")  # fixed in place: nothing to dismiss first
    browser.find_element(By.ID, "segment-run").click()
    wait.until(lambda _: "segment → 1 mask" in status.text)
    assert browser.find_element(By.CSS_SELECTOR, "#segment-canvas img").get_attribute("src") != masked
    assert json.loads(box.get_property("value")) == {"boxes": [[100.0, 50.0, 500.0, 400.0]]}


def test_a_click_on_an_example_selects_its_object(app_url, browser, coco_root):
    """The first example picked in the gallery, one click at the most interior point of its largest COCO instance
    (the offline default model, preselected): the mask PNG the app writes covers that instance, IoU >= 0.5."""
    first = Path(example_images()[0])
    coco = load_coco_gt(coco_root / "annotations" / "instances_val2017.json")
    ids = {img["file_name"]: img["id"] for img in coco.dataset["images"]}
    if first.name not in ids:
        pytest.skip(f"the first example {first.name} has no ground truth in the shared COCO slice")
    anns = coco.loadAnns(coco.getAnnIds(imgIds=ids[first.name], iscrowd=False))
    gt = coco.annToMask(max(anns, key=lambda a: a["area"])).astype(bool)
    click = next_click(gt)

    wait = WebDriverWait(browser, WAIT_S)
    browser.get(app_url)
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "#segment-examples button"))).click()
    status = browser.find_element(By.ID, "segment-status")
    wait.until(lambda _: "Click on the image" in status.text)
    click_image_pixel(browser, browser.find_element(By.CSS_SELECTOR, "#segment-canvas img"), click.x, click.y)
    wait.until(lambda _: "1 mask" in status.text)
    browser.find_element(By.ID, "segment-downloads").click()
    link = wait.until(lambda d: next((a for a in d.find_elements(By.CSS_SELECTOR, "a[download]")
                                      if a.get_attribute("href").endswith("_mask.png")), None))
    with urllib.request.urlopen(link.get_attribute("href"), timeout=WAIT_S) as response:
        mask = np.asarray(Image.open(io.BytesIO(response.read()))) > 0
    assert mask.shape == gt.shape
    assert mask_iou(mask, gt) >= 0.5


def _photo(coco_image_path: Path, folder: Path, size: tuple[int, int]) -> Path:
    """The COCO image enlarged to ``size`` (W, H) and written as a JPEG, as a phone writes its photos."""
    import cv2

    path = folder / f"photo-{size[0]}x{size[1]}.jpg"
    image = cv2.imread(str(coco_image_path))
    cv2.imwrite(str(path), cv2.resize(image, size, interpolation=cv2.INTER_CUBIC), [cv2.IMWRITE_JPEG_QUALITY, 92])
    return path


def test_segment_everything_on_a_photo_keeps_every_mask_in_its_downloads(app_url, browser, coco_image_path,
                                                                       tmp_path):
    """A 12-megapixel phone photo (4000 x 3000 JPEG): the offline model's settings, the estimate, the masks
    drawn, and a JSON download holding as many masks as the status says, at the photo's size."""
    wait, slow = WebDriverWait(browser, WAIT_S), WebDriverWait(browser, 300)
    browser.get(app_url)
    upload = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#segment-input input[type=file]")))
    upload.send_keys(str(_photo(coco_image_path, tmp_path, (4000, 3000))))
    status = browser.find_element(By.ID, "segment-status")
    wait.until(lambda _: "Click on the image" in status.text)
    before = browser.find_element(By.CSS_SELECTOR, "#segment-canvas img").get_attribute("src")
    browser.find_element(By.CSS_SELECTOR, "#segment-everything-accordion button").click()  # open it
    controls = wait.until(ec.visibility_of_element_located((By.ID, "segment-everything-controls")))
    assert "its own object proposals" in controls.text
    assert browser.find_element(By.ID, "segment-everything-pred-iou-thresh").is_displayed()
    assert not any(e.is_displayed() for e in browser.find_elements(By.ID, "segment-everything-points-per-side"))
    browser.find_element(By.ID, "segment-everything").click()
    line = browser.find_element(By.ID, "segment-everything-status")
    wait.until(lambda _: "About" in line.text or "Done" in line.text)
    slow.until(lambda _: "Done: " in line.text)
    masks = int(re.search(r"Done: (\d+) masks", line.text).group(1))
    assert masks > 1
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#segment-canvas img").get_attribute("src") != before)
    browser.find_element(By.ID, "segment-downloads").click()
    link = slow.until(lambda d: next((a for a in d.find_elements(By.CSS_SELECTOR, "a[download]")
                                      if a.get_attribute("href").endswith("segment.json")), None))
    with urllib.request.urlopen(link.get_attribute("href"), timeout=WAIT_S) as response:
        written = json.loads(response.read())
    assert written["image_size"] == [3000, 4000] and len(written["masks"]) == masks


def test_cancel_stops_segment_everything_and_says_so(app_url, browser, coco_image_path, tmp_path):
    wait = WebDriverWait(browser, WAIT_S)
    browser.get(app_url)
    upload = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#segment-input input[type=file]")))
    upload.send_keys(str(_photo(coco_image_path, tmp_path, (1000, 750))))  # a new image: nothing of it cached
    status = browser.find_element(By.ID, "segment-status")
    wait.until(lambda _: "Click on the image" in status.text)
    browser.find_element(By.CSS_SELECTOR, "#segment-everything-accordion button").click()
    wait.until(ec.element_to_be_clickable((By.ID, "segment-everything"))).click()
    line = browser.find_element(By.ID, "segment-everything-status")
    wait.until(lambda _: "About" in line.text)  # the estimate is shown: the run has started
    browser.find_element(By.ID, "segment-everything-cancel").click()
    WebDriverWait(browser, 5).until(lambda _: "cancelled" in line.text)
    assert "Done" not in line.text
