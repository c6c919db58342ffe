"""docs/app.png: the click-to-focus page after a click on the motorcycle sample, maps shown.

    python experiments/app_screenshot.py [docs/app.png]

Starts ``python -m bokeh_jax.app`` on a free loopback port, drives Debian's headless
Chromium with the browser test's helpers (tests/test_app_browser.py), picks the Middlebury
sample, turns the maps on, clicks the front wheel and saves the top of the page.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import test_app_browser as page  # noqa: E402


def main(out: str = str(REPO / "docs" / "app.png")) -> int:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    port = page._free_port()
    server = subprocess.Popen([sys.executable, "-m", "bokeh_jax.app", "--port", str(port)],
                              cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)))
    try:
        url = f"http://127.0.0.1:{port}/"
        for _ in range(600):
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        options = webdriver.ChromeOptions()
        options.binary_location = page._first(page.CHROMIUM)
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                    "--disable-gpu", "--window-size=1400,1500"):
            options.add_argument(arg)
        d = webdriver.Chrome(service=Service(page._first(page.DRIVER)), options=options)
        d.get(url)
        page._wait(lambda: d.find_elements(By.ID, "show_maps"), "the page")
        d.find_element(By.CSS_SELECTOR, "#show_maps input").click()
        d.find_element(By.XPATH, "//*[normalize-space(text())='Middlebury motorcycle']").click()
        page.W, page.H = 741, 500  # the sample's size, for the helpers
        first = page._full_render(d, None, None)
        page._click(d, (560, 330))  # the front wheel
        page._full_render(d, first["src"], None)
        d.execute_script("window.scrollTo(0, 0)")
        time.sleep(1)
        shot = Path(out).with_suffix(".full.png")
        d.save_screenshot(str(shot))
        d.quit()
        Image.open(shot).convert("RGB").crop((60, 0, 1340, 1240)).save(out, optimize=True)
        shot.unlink()
        print(f"wrote {out}")
    finally:
        server.terminate()
        server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
