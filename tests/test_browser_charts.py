"""The Benchmark and Compare tabs in a real browser (headless Chromium through Selenium), at 1400 x 1000 and
at phone width (400 px): every chart keeps axes no narrower than a fixed width and is drawn at its own
height, the results table neither scrolls sideways nor wraps its headers, and Compare shows every result at
the same size with its caption, its failures as notes under the times table. The Benchmark tab reads the
shipped ``results/`` (read-only), then an uploaded results file with published twins. Screenshots of the
tabs go to ``$SEGLAB_SCREENSHOTS`` when set (to refresh the README's), else to a temporary folder.
Skips when Chromium or chromedriver is not installed."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

import seglab
from app_weights import save_tiny_models
from seglab import report
from ui import build_demo, weights
from web import chromium, needs_chromium, served

SHIPPED = Path(__file__).resolve().parents[1] / "results"
EMBEDDED = "embedded-u2netp-grabcut"
RUNNABLE = ("sam-vit-base", "segformer-b0-ade", "depth-anything-v2-metric-indoor-small")  # tiny random weights
WAIT_S = 30
SIZES = {"desktop": (1400, 1000), "phone": (400, 1000)}
MIN_CHART_PX = {"desktop": 560, "phone": 300}  # two charts side by side on a desktop, one across a phone
MIN_X_AXIS_PX = 220  # every x axis at least this wide, phone included
MIN_Y_AXIS_PX = 40  # every y axis at least one labelled row tall
# per drawn chart: its element id, its rendered width and height, the figure's own height, and each axis' length
CHARTS = """
return Array.from(document.querySelectorAll('.js-plotly-plot')).filter(g => g.offsetParent !== null).map(g => {
  const L = g._fullLayout, r = g.getBoundingClientRect();
  const axes = [...L._subplots.xaxis, ...L._subplots.yaxis].map(a => [a, L[a[0] + 'axis' + a.slice(1)]._length]);
  return {id: g.closest('[id^=chart], [id^=zoo]').id, width: r.width, height: r.height, figure: L.height, axes: axes};
});"""
# the row labels and titles written in a chart that reach past its drawing on either side
CUT_TEXT = """
const svg = document.querySelector('#' + arguments[0] + ' .main-svg').getBoundingClientRect();
return Array.from(document.querySelectorAll('#' + arguments[0] + ' .annotation-text')).filter(t => {
  const r = t.getBoundingClientRect(); return r.left < svg.left - 1 || r.right > svg.right + 1;
}).map(t => t.textContent);"""
# the results table: its scroll box's widths and how many lines each header takes
TABLE = """
const view = document.querySelector('#benchmark-table .virtual-table-viewport');
const lines = Array.from(document.querySelectorAll('#benchmark-table th span.header'))
  .map(s => new Set(Array.from(s.getClientRects()).map(r => Math.round(r.top))).size);
return [view.scrollWidth, view.clientWidth, lines];"""

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def app_url(tmp_path_factory) -> Iterator[str]:
    weights = save_tiny_models(tmp_path_factory.mktemp("weights"), RUNNABLE)
    with served(build_demo(weights_dir=weights, results_dir=SHIPPED)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    with chromium("--hide-scrollbars", "--window-size=1400,1000") as driver:
        yield driver


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("SEGLAB_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def published_twins(tmp_path: Path) -> Path:
    """A results file as a GPU run with pretrained weights would write it: numbers the registry also quotes."""
    for model, task, metrics, ms in (("maskrcnn-resnet50-fpn", "instance", {"AP": 33.9}, 60.0),
                                     ("mask2former-swin-tiny-coco-panoptic", "panoptic", {"PQ": 52.8}, 110.0),
                                     ("mask2former-swin-large-coco-panoptic", "panoptic", {"PQ": 57.5}, 240.0)):
        report.update_results(tmp_path, {"model": model, "task": task, "dataset": "coco-val2017",
                                         "weights": "pretrained", "n_images": 5000, "latency_p50_ms": ms,
                                         "protocol": seglab.get_spec(model).protocol, **metrics})
    return tmp_path / "results.csv"


def open_tab(driver: webdriver.Chrome, name: str) -> None:
    driver.find_element(By.XPATH, f"//button[@role='tab' and normalize-space()='{name}']").click()


def check_charts(driver: webdriver.Chrome, size: str, folder: Path, expected: set[str]) -> None:
    """At ``size``: every drawn chart is the one expected, at its own height, as wide as the window allows,
    with no axis narrower than the fixed minimum; each chart's screenshot has the element's size."""
    width, height = SIZES[size]
    driver.set_window_size(width, height)
    WebDriverWait(driver, WAIT_S).until(lambda d: all(c["width"] <= width for c in d.execute_script(CHARTS)))
    charts = driver.execute_script(CHARTS)
    assert {c["id"] for c in charts} == expected
    for chart in charts:
        assert chart["height"] == pytest.approx(chart["figure"], abs=2), chart["id"]  # not squeezed
        assert chart["width"] >= MIN_CHART_PX[size], chart["id"]
        for axis, length in chart["axes"]:
            assert length >= (MIN_X_AXIS_PX if axis.startswith("x") else MIN_Y_AXIS_PX), (chart["id"], axis, length)
        assert driver.execute_script(CUT_TEXT, chart["id"]) == [], chart["id"]  # every label read whole
        element = driver.find_element(By.ID, chart["id"]).find_element(By.CSS_SELECTOR, ".js-plotly-plot")
        driver.execute_script("arguments[0].scrollIntoView()", element)
        path = folder / f"{chart['id']}-{size}.png"
        element.screenshot(str(path))
        with Image.open(path) as shot:
            assert abs(shot.width - chart["width"]) <= 2 and shot.width <= width
    assert driver.execute_script("return document.documentElement.scrollWidth") <= width  # no sideways page


def test_benchmark_tab_reads_well_at_desktop_and_phone_width(app_url, browser, shots, published_twins, tmp_path):
    wait = WebDriverWait(browser, WAIT_S)
    browser.set_window_size(*SIZES["desktop"])
    browser.get(app_url)
    wait.until(ec.presence_of_element_located((By.XPATH, "//button[@role='tab' and normalize-space()='Benchmark']")))
    open_tab(browser, "Benchmark")
    wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, "#chart-latency .js-plotly-plot .main-svg")))
    note = browser.find_element(By.ID, "note-reproduced").text  # nothing shipped has a published twin
    assert "Nothing reproduced" in note and "python -m seglab download" in note
    scroll_width, client_width, header_lines = browser.execute_script(TABLE)
    assert scroll_width <= client_width + 1 and set(header_lines) == {1}  # no sideways table, no wrapped header
    browser.set_window_size(*SIZES["phone"])
    assert set(browser.execute_script(TABLE)[2]) == {1}  # on a phone it scrolls; headers still read on one line
    browser.set_window_size(*SIZES["desktop"])
    browser.find_element(By.XPATH, "//button[.//span[normalize-space()='Published numbers as a chart']]").click()
    wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, "#zoo-chart .js-plotly-plot .main-svg")))
    shipped = {"chart-accuracy_latency", "chart-latency", "chart-clicks", "zoo-chart"}
    check_charts(browser, "desktop", tmp_path, shipped)
    check_charts(browser, "phone", tmp_path, shipped)

    browser.set_window_size(*SIZES["desktop"])
    browser.find_element(By.CSS_SELECTOR, "#benchmark-upload input[type=file]").send_keys(str(published_twins))
    wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, "#chart-reproduced .js-plotly-plot .main-svg")))
    assert "results.csv" in browser.find_element(By.ID, "benchmark-summary").text
    uploaded = {"chart-reproduced", "chart-accuracy_latency", "zoo-chart"}
    check_charts(browser, "desktop", tmp_path, uploaded)
    check_charts(browser, "phone", tmp_path, uploaded)
    browser.set_window_size(*SIZES["desktop"])
    browser.execute_script("window.scrollTo(0, 0)")
    assert browser.save_screenshot(str(shots / "benchmark-zoo.png"))
    browser.execute_script("arguments[0].scrollIntoView()", browser.find_element(By.ID, "benchmark-summary"))
    assert browser.save_screenshot(str(shots / "benchmark-tab.png"))


def zoo_click(driver: webdriver.Chrome, task: str, model_id: str) -> None:
    """On the Benchmark tab, the zoo filtered to ``task``, a click on the row of ``model_id``."""
    open_tab(driver, "Benchmark")
    driver.find_element(By.XPATH, f"//*[@id='zoo-task']//label[normalize-space()='{task}']").click()
    cell = WebDriverWait(driver, WAIT_S).until(ec.presence_of_element_located(
        (By.XPATH, f"//*[@id='zoo-table']//span[normalize-space()='{model_id}']")))  # a cell's text
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", cell)
    cell.click()


def test_a_zoo_row_opens_its_model_on_its_tab_where_run_says_if_it_cannot_run(app_url, browser):
    wait = WebDriverWait(browser, WAIT_S)
    browser.set_window_size(*SIZES["desktop"])
    browser.get(app_url)
    wait.until(ec.presence_of_element_located((By.XPATH, "//button[@role='tab' and normalize-space()='Benchmark']")))
    zoo_click(browser, "semantic", "segformer-b5-ade")  # not downloaded, and the tests' Hub is offline
    run = wait.until(ec.visibility_of_element_located((By.ID, "semantic-run")))  # the Semantic tab is open
    wait.until(lambda d: "segformer-b5-ade" in d.find_element(By.ID, "semantic-needs").text)
    wait.until(lambda d: not run.is_enabled())
    assert run.text == f"Run {weights.BLOCKED}"
    assert "python -m seglab download segformer-b5-ade" in browser.find_element(By.ID, "semantic-needs").text
    zoo_click(browser, "semantic", "segformer-b0-ade")  # here (tiny weights)
    wait.until(lambda d: d.find_element(By.ID, "semantic-run").is_displayed()
               and d.find_element(By.ID, "semantic-run").is_enabled())
    assert browser.find_element(By.ID, "semantic-run").text == "Run"


def thumbnails(driver: webdriver.Chrome) -> list[tuple[float, float, str]]:
    """(width, height, caption) of every picture in the Compare gallery, as shown."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#compare-gallery .thumbnail-item')).map(t => {"
        "  const r = t.querySelector('img').getBoundingClientRect(), c = t.querySelector('.caption-label');"
        "  return [r.width, r.height, c && c.offsetParent !== null ? c.textContent : ''];});")


def choose(driver: webdriver.Chrome, model_id: str) -> None:
    """Pick ``model_id`` in the Compare models dropdown (its option reads the id, maybe with a download mark)."""
    box = driver.find_element(By.CSS_SELECTOR, "#compare-models input")
    box.click()
    box.send_keys(model_id)
    option = WebDriverWait(driver, WAIT_S).until(ec.element_to_be_clickable(
        (By.XPATH, f"//ul[@role='listbox']/li[@aria-label='{model_id}' or starts-with(@aria-label, '{model_id} ')]")))
    option.click()
    box.send_keys(Keys.ESCAPE)  # close the list: it would cover what is under it


def test_compare_shows_each_result_at_the_same_size_with_its_caption(app_url, browser, coco_image_path, shots):
    wait = WebDriverWait(browser, WAIT_S)
    browser.set_window_size(*SIZES["desktop"])
    browser.get(app_url)
    wait.until(ec.presence_of_element_located((By.XPATH, "//button[@role='tab' and normalize-space()='Compare']")))
    open_tab(browser, "Compare")
    browser.find_element(By.CSS_SELECTOR, "#compare-image input[type=file]").send_keys(str(coco_image_path))
    browser.find_element(By.CSS_SELECTOR, "#compare-prompt textarea").send_keys('{"boxes": [[100, 50, 500, 400]]}')
    chips = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "#compare-models .token")]
    offline = [s.id for s in seglab.list_models("promptable") if s.offline and seglab.is_available(s.id)]
    assert chips[:len(offline)] == offline and chips[0] == EMBEDDED  # offline: the embedded model and baselines
    browser.find_element(By.CSS_SELECTOR, "#compare-models .remove-all").click()
    for model_id in (EMBEDDED, "sam-vit-large", *RUNNABLE):  # sam-vit-large is not here: it fails alone
        choose(browser, model_id)
    browser.find_element(By.ID, "compare-run").click()
    wait.until(lambda d: len(thumbnails(d)) == 4)
    four = thumbnails(browser)
    assert [caption.split(" · ")[0] for *_, caption in four] == [EMBEDDED, *RUNNABLE]
    assert all(shown[:2] == pytest.approx(four[0][:2], abs=1) for shown in four)
    scroll, client = browser.execute_script("const g = document.querySelector('#compare-gallery .grid-wrap');"
                                            "return [g.scrollHeight, g.clientHeight];")
    assert scroll <= client + 1  # every picture in view: the gallery is no scroll box
    times = browser.find_element(By.ID, "compare-times")
    headers = times.find_elements(By.CSS_SELECTOR, "th")
    assert [h.text for h in headers] == ["model", "task", "load", "predict", "result"]
    assert min(h.size["width"] for h in headers) >= 40  # no column squeezed into a stack of letters
    note = times.find_element(By.CSS_SELECTOR, "ol li").text
    assert note.startswith("sam-vit-large") and "python -m seglab download sam-vit-large" in note
    assert browser.save_screenshot(str(shots / "compare-tab.png"))

    browser.find_element(By.CSS_SELECTOR, "#compare-models .remove-all").click()
    for model_id in (EMBEDDED, "sam-vit-large"):
        choose(browser, model_id)
    browser.find_element(By.ID, "compare-run").click()
    wait.until(lambda d: len(thumbnails(d)) == 1)
    (width, height, caption), = thumbnails(browser)
    assert (width, height) == pytest.approx(four[0][:2], abs=1)  # one result: the same size, not enlarged
    assert caption.startswith(f"{EMBEDDED} · ")
