"""What the tests that drive the app over HTTP share: the app served on a free loopback port, and headless
Chromium (the browser tests skip when it or its driver is not installed)."""
from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver")
needs_chromium = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="Chromium and chromedriver are needed: "
                                    "apt-get install chromium chromium-driver")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(demo: Any) -> Iterator[str]:
    """``demo`` (a gr.Blocks) served on 127.0.0.1 until the block ends; yields its URL."""
    from ui import STYLE

    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True,
                            css_paths=STYLE)
    try:
        yield url
    finally:
        demo.close()


@contextmanager
def chromium(*arguments: str) -> Iterator[Any]:
    """Headless Chromium through Selenium with extra command-line ``arguments`` (e.g. a window size); skips the
    test when it does not start (a chromedriver of another version than the browser, say)."""
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", *arguments):
        options.add_argument(arg)
    try:
        driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(CHROMEDRIVER))
    except WebDriverException as e:
        pytest.skip(f"headless Chromium did not start: {e.msg}")
    try:
        yield driver
    finally:
        driver.quit()
