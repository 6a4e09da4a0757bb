"""A box click as its user feels it, in headless Chromium (``python -m benchmarks.app_speed --parts browser``):
the Segment tab's prompt set and Segment pressed until the canvas shows the new picture, decoded, against
``seglab.predict`` alternated and a bare app's echo in the same browser (selenium from requirements-dev.txt)."""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import numpy as np

import seglab
from benchmarks.app_harness import CALL_TIMEOUT_S, alternated, boxes, start, stop, summary
from ui.common import threads_per_slot

# the transport alone in a browser: a bare app whose button copies one text box into another
BROWSER_ECHO_APP = ("import gradio as gr, os\nwith gr.Blocks() as demo:\n    a = gr.Textbox(elem_id='echo-in')\n"
                    "    b = gr.Textbox(elem_id='echo-out')\n"
                    "    gr.Button(elem_id='echo-run').click(lambda x: x, a, b, api_name='echo')\n"
                    "demo.queue(default_concurrency_limit=None)\n"
                    "demo.launch(server_name='127.0.0.1', server_port=int(os.environ['GRADIO_SERVER_PORT']))")
# In the page: the input box set to arguments[0], the button pressed; the promise READY(t0) resolves once the
# result shows.
# Hands back ms from the press to: the result shown, the request leaving (queue/join), the reply's stream closing.
IN_PAGE = """
const [text, done] = [arguments[0], arguments[arguments.length - 1]];
const input = document.querySelector(INPUT);
input.value = text; input.dispatchEvent(new Event('input', {bubbles: true}));
performance.clearResourceTimings();
const finish = (t0) => {
  const t = performance.now(), entries = performance.getEntriesByType('resource');
  const at = (part, key) => { const e = entries.find(e => e.name.includes(part)); return e ? e[key] - t0 : NaN; };
  done([t - t0, at('/queue/join', 'startTime'), at('/queue/data', 'responseEnd')]);
};
setTimeout(() => { const t0 = performance.now(); READY(t0).then(() => finish(t0));
                   document.querySelector(BUTTON).click(); }, 0);
"""
# the Segment tab: done when the canvas's <img> has a new picture and it is decoded
CANVAS_SHOWN = IN_PAGE.replace("INPUT", "'#segment-prompt textarea'").replace("BUTTON", "'#segment-run'").replace(
    "READY", """((t0) => new Promise((resolve) => {
  const root = document.querySelector('#segment-canvas'), before = root.querySelector('img')?.src;
  const seen = () => { const img = root.querySelector('img');
    if (img && img.src !== before) { observer.disconnect(); img.decode().then(resolve, resolve); } };
  const observer = new MutationObserver(seen);
  observer.observe(root, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
}))""")
# the echo app: done when the output box holds the text (its value is a property, so it is polled every ms)
ECHO_SHOWN = IN_PAGE.replace("INPUT", "'#echo-in textarea'").replace("BUTTON", "'#echo-run'").replace(
    "READY", """((t0) => new Promise((resolve) => {
  const poll = setInterval(() => { if (document.querySelector('#echo-out textarea').value === text) {
    clearInterval(poll); resolve(); } }, 1);
}))""")


def headless_chromium():
    """Headless Chromium through selenium; None (and why, printed) when either is missing."""
    import shutil

    binary = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    try:
        from selenium import webdriver
    except ImportError:
        print("browser part skipped: pip install -r requirements-dev.txt (selenium)")
        return None
    if not (binary and driver):
        print("browser part skipped: Chromium and chromedriver are needed (apt-get install chromium chromium-driver)")
        return None
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1100,1000"):
        options.add_argument(arg)
    chrome = webdriver.Chrome(options=options, service=webdriver.ChromeService(driver))
    chrome.set_script_timeout(CALL_TIMEOUT_S)
    return chrome


def browser_clicks(url: str, model_id: str, location: str | None, image_path: Path, n: int,
                   env: dict[str, str]) -> None:
    """A box through the Segment tab in headless Chromium (prompt set, Segment pressed, until the canvas's new
    picture is decoded), ``seglab.predict`` in this process, and a bare app's echo in the same browser; alternated,
    each its own copy of each box (as in :func:`clicks`)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    chrome = headless_chromium()
    if chrome is None:
        return
    seglab.set_threads(threads_per_slot())
    adapter = seglab.load_model(model_id, location=location)
    image = seglab.load_image(image_path)
    height, width = image.shape[:2]
    box_list = boxes(np.random.default_rng(1), n + 2, width, height)

    def prompt(i: int, way: int) -> str:
        x0, y0, x1, y1 = box_list[i]
        return json.dumps({"boxes": [[x0 + way, y0 + way, min(x1 + way, width), min(y1 + way, height)]]})

    echo_proc, echo_url, _ = start([sys.executable, "-c", BROWSER_ECHO_APP], env)
    try:
        app_tab = chrome.current_window_handle
        chrome.get(url)
        wait = WebDriverWait(chrome, CALL_TIMEOUT_S)
        wait.until(lambda c: c.find_element(By.CSS_SELECTOR, "#segment-input input[type=file]")).send_keys(
            str(image_path))
        status = chrome.find_element(By.ID, "segment-status")
        wait.until(lambda _: "prepared" in status.text or "Click on the image" in status.text)
        chrome.switch_to.new_window("tab")
        echo_tab = chrome.current_window_handle
        chrome.get(echo_url)
        wait.until(lambda c: c.find_element(By.CSS_SELECTOR, "#echo-in textarea"))
        parts: dict[str, list[list[float]]] = {"app": [], "echo": []}

        def in_page(tab: str, script: str, text: str, into: str) -> None:
            chrome.switch_to.window(tab)
            parts[into].append(chrome.execute_async_script(script, text))

        def app_click(i: int) -> None:
            in_page(app_tab, CANVAS_SHOWN, prompt(i, 7), "app")
            if "mask" not in status.text.splitlines()[-1]:  # "1 mask, score ...", "3 masks, ..."
                raise RuntimeError(f"the click did not give a mask: {status.text}")

        def reference(i: int) -> None:
            seglab.predict(adapter, image, seglab.Prompt.build(boxes=json.loads(prompt(i, 8))["boxes"]))

        def echo(i: int) -> None:
            in_page(echo_tab, ECHO_SHOWN, prompt(i, 2), "echo")

        # switching tabs is outside the timed script: only the in-page milliseconds count
        _, predict_s, _ = alternated(n, app_click, reference, echo)
    finally:
        chrome.quit()
        stop(echo_proc)
    # the timed rounds, after the warm-up; a stream the page still holds open has no end time yet (NaN)
    app, echo_ms = (np.array(parts[k][-n:], dtype=float) for k in ("app", "echo"))
    med_ref = statistics.median(predict_s) * 1000
    print(f"a box in headless Chromium ({model_id}, {image_path.name}, {n} boxes; prompt set, Segment pressed, "
          f"until the canvas's new picture is decoded): min {app[:, 0].min():.0f} ms, median "
          f"{np.median(app[:, 0]):.0f} ms")
    print(summary("seglab.predict in this process, same boxes", predict_s))
    print(f"browser click / predict: median x{np.median(app[:, 0]) / med_ref:.2f}, "
          f"min x{app[:, 0].min() / (min(predict_s) * 1000):.2f}")
    for name, ms in (("the app", app), ("a bare app's echo", echo_ms)):
        print(f"  {name}, medians: {np.median(ms[:, 0]):.0f} ms in all; the request leaves the page after "
              f"{np.nanmedian(ms[:, 1]):.0f} ms, its reply's stream closes at {np.nanmedian(ms[:, 2]):.0f} ms, "
              f"shown {np.nanmedian(ms[:, 0] - ms[:, 2]):.0f} ms later")
