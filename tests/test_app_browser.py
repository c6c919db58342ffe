"""The click-to-focus page in a real browser: headless Chromium driven by Selenium.

The app runs as its users start it (``python -m bokeh_jax.app --port P``) on a free
loopback port; Debian's ``chromium`` and ``chromium-driver`` drive the page (``make test``
installs them as root; elsewhere these tests skip, saying how to install them). Run just
these with ``pytest -m browser``. Screenshots of the page land in the test's temporary
folder (docs/app.png is one of them, taken from the sample photo).

The photo is small (192x128, a 96x64 preview) so the two layered programs compile fast.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from conftest import textured
from PIL import Image, ImageCms

pytestmark = pytest.mark.browser

H, W = 128, 192
PREVIEW = 96
NEAR, FAR = (48, 64), (144, 64)  # (x, y): the left half is near, the right half far
CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
DRIVER = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
INSTALL = ("apt-get install chromium chromium-driver (make test does it when run as root), "
           "and pip install selenium (the test extra)")
REPO = Path(__file__).resolve().parents[1]


def _first(paths) -> str | None:
    return next((p for p in paths if Path(p).is_file()), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser_parts():
    pytest.importorskip("gradio", reason="the app extra is not installed (pip install "
                                         "'bokeh-jax[app]')")
    try:
        from selenium import webdriver  # noqa: F401
    except ImportError:
        pytest.skip(f"selenium is not installed: {INSTALL}")
    chromium, driver = _first(CHROMIUM), _first(DRIVER)
    if chromium is None or driver is None:
        pytest.skip(f"headless Chromium not found ({CHROMIUM[0]}, {DRIVER[0]}): {INSTALL}")
    return chromium, driver


@pytest.fixture(scope="module")
def server(browser_parts, tmp_path_factory):
    """The app, as a user starts it, on a free loopback port; its log in the tmp folder."""
    port = _free_port()
    tmp = tmp_path_factory.mktemp("app_server")
    log = tmp / "server.log"
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               GRADIO_TEMP_DIR=str(tmp / "gradio"), TMPDIR=str(tmp))
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bokeh_jax.app", "--port", str(port),
                                 "--preview-size", str(PREVIEW), "--no-samples"],
                                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the app exited ({proc.returncode}): {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the app did not answer on {url}: {log.read_text()[-2000:]}")
            time.sleep(0.3)
        yield url, proc, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    # Stopped like `kill` does: its temporary files (samples, renders) went with it.
    assert proc.returncode == 0 and not list(tmp.glob("bokeh_jax_app_*")), proc.returncode


@pytest.fixture(scope="module")
def downloads(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def driver(browser_parts, downloads):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = browser_parts
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1000"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    try:
        d = webdriver.Chrome(service=Service(chromedriver), options=options)
    except Exception as e:  # noqa: BLE001 - a browser that cannot start here: say why
        pytest.skip(f"headless Chromium did not start ({type(e).__name__}: {e})")
    d.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow",
                                                      "downloadPath": str(downloads)})
    yield d
    d.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> dict:
    """A 192x128 JPEG with an ICC profile; its disparity map (left half near)."""
    d = tmp_path_factory.mktemp("app_shots")
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    photo = d / "street.jpg"
    Image.fromarray(textured(H, W, seed=5)).save(photo, quality=95, icc_profile=icc)
    disparity = np.full((H, W), 30, np.uint8)
    disparity[:, : W // 2] = 220
    Image.fromarray(disparity).save(d / "street_depth.png")
    (d / "notes.txt").write_text("a shopping list, not a photo\n")
    return {"photo": photo, "depth": d / "street_depth.png", "text": d / "notes.txt",
            "icc": icc}


# --- page helpers ---------------------------------------------------------------------------

def _wait(condition, what: str, timeout: float = 90.0, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    tail = f"; server log: {log.read_text()[-1500:]}" if log else ""
    raise AssertionError(f"timed out waiting for {what}{tail}")


def _upload(d, elem_id: str, path: Path) -> None:
    from selenium.webdriver.common.by import By

    d.find_element(By.CSS_SELECTOR, f"#{elem_id} input[type=file]").send_keys(str(path))


def _text(d, elem_id: str) -> str:
    from selenium.webdriver.common.by import By

    found = d.find_elements(By.ID, elem_id)
    return found[0].text if found else ""


def _result(d) -> dict | None:
    """The shown picture: its src and natural size, once loaded."""
    return d.execute_script("""
        const img = document.querySelector('#result img');
        if (!img || !img.complete || !img.naturalWidth) return null;
        return {src: img.src, w: img.naturalWidth, h: img.naturalHeight};""")


def _full_render(d, previous: str | None, log: Path) -> dict:
    """Waits for a new full-size picture (not the preview) and returns it."""
    def ready():
        r = _result(d)
        done = r and r["src"] != previous and r["w"] == W and "(full size)" in _text(d, "info")
        return r if done else None

    return _wait(ready, "the full-size render", log=log)


def _click(d, xy: tuple[int, int]) -> None:
    """Clicks the shown picture at its pixel ``xy`` (of the full-size picture)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    img = d.find_element(By.CSS_SELECTOR, "#result img")
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", img)
    box = d.execute_script("const r = arguments[0].getBoundingClientRect();"
                           "return [r.width, r.height, arguments[0].naturalWidth,"
                           " arguments[0].naturalHeight];", img)
    width, height, nw, nh = box
    s = min(width / nw, height / nh, 1.0)  # shrunk to fit (never enlarged), centred
    x = (width - nw * s) / 2 + xy[0] * nw / W * s  # Gradio rounds to the nearest pixel
    y = (height - nh * s) / 2 + xy[1] * nh / H * s
    ActionChains(d).move_to_element_with_offset(img, x - width / 2, y - height / 2).click() \
        .perform()


def _drag_strength(d, previous: str, log: Path) -> str:
    """Drags the strength slider down and lets go: previews (the reduced size) while
    dragging, then the full size. Returns the full render's src."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    # Every picture the page shows, by width (load events reach the container's capture).
    d.execute_script("""window.seen = [];
        document.querySelector('#result').addEventListener('load', e => {
            if (e.target.tagName === 'IMG') window.seen.push(e.target.naturalWidth);
        }, true);""")
    slider = d.find_element(By.CSS_SELECTOR, "#strength input[type=range]")
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", slider)
    width = slider.size["width"]
    chain = ActionChains(d).click_and_hold(slider)  # at the middle: strength 1.5
    for _ in range(3):  # towards 0.5, pausing so the previews are drawn
        chain = chain.move_by_offset(-width // 10, 0).pause(0.7)
    chain.release().perform()
    result = _full_render(d, previous, log)
    seen = d.execute_script("return window.seen")
    assert PREVIEW in seen and seen[-1] == W, seen  # previews, then the full size last
    return result["src"]


def _fetch(url: str) -> np.ndarray:
    with urllib.request.urlopen(url, timeout=30) as r:
        return np.asarray(Image.open(r).convert("RGB"), np.float32)


def _energy(img: np.ndarray, xy: tuple[int, int], r: int = 20) -> float:
    """Gradient energy (mean squared horizontal and vertical differences) around ``xy``."""
    g = img.mean(-1)[xy[1] - r:xy[1] + r, xy[0] - r:xy[0] + r]
    return float((np.diff(g, axis=0) ** 2).mean() + (np.diff(g, axis=1) ** 2).mean())


# --- the tests ------------------------------------------------------------------------------

def test_a_text_file_is_a_message_in_the_page(server, driver, shots, tmp_path):
    url, proc, log = server
    driver.get(url)
    _wait(lambda: driver.find_elements("css selector", "#photo input[type=file]"),
          "the page", log=log)
    _upload(driver, "photo", shots["text"])
    def error():
        text = _text(driver, "message")
        return text if "is it a complete" in text else None

    message = _wait(error, "the error message", log=log)
    # The file by its own name (not Gradio's upload folder), what went wrong, and the fix.
    assert "Error: notes.txt: cannot read it as an image" in message, message
    assert "is it a complete JPEG/PNG/WebP/TIFF file?" in message and "gradio" not in message
    assert "Traceback" not in driver.page_source
    driver.save_screenshot(str(tmp_path / "text_file.png"))
    assert proc.poll() is None  # the server keeps serving (the next test uses it)


def test_click_near_then_far_focuses_there_and_downloads_full_size(server, driver, shots,
                                                                   downloads, tmp_path):
    url, proc, log = server
    driver.get(url)  # a fresh page
    _wait(lambda: driver.find_elements("css selector", "#photo input[type=file]"),
          "the page", log=log)
    _upload(driver, "photo", shots["photo"])
    _wait(lambda: "now drop its depth map" in _text(driver, "message"), "the depth prompt",
          log=log)
    _upload(driver, "depth", shots["depth"])
    first = _full_render(driver, None, log)
    driver.save_screenshot(str(tmp_path / "loaded.png"))

    photo = _fetch_photo(shots["photo"])
    sharp = {name: _energy(photo, xy) for name, xy in (("near", NEAR), ("far", FAR))}
    shown = {}
    previous = first["src"]
    for name, xy in (("near", NEAR), ("far", FAR)):
        _click(driver, xy)
        result = _full_render(driver, previous, log)
        assert f"pixel ({xy[0]}, {xy[1]})" in _text(driver, "info")
        previous = result["src"]
        shown[name] = _fetch(result["src"])
        assert shown[name].shape == (H, W, 3)
        driver.save_screenshot(str(tmp_path / f"clicked_{name}.png"))
    assert np.abs(shown["near"] - shown["far"]).mean() > 1.0  # the result changed
    previous = _drag_strength(driver, previous, log)
    # Around the clicked point the picture keeps (most of) the photo's detail; the other
    # half is blurred: relative gradient energy, since the two halves differ in texture.
    for name, other in (("near", "far"), ("far", "near")):
        xy, xy_other = (NEAR, FAR) if name == "near" else (FAR, NEAR)
        kept = _energy(shown[name], xy) / sharp[name]
        blurred = _energy(shown[name], xy_other) / sharp[other]
        assert kept > 0.5 and kept > 4 * blurred, (name, kept, blurred)

    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, "#download").click()
    path = downloads / "street_bokeh.jpg"
    _wait(lambda: path.is_file() and path.stat().st_size > 0, "the download", log=log)
    got = Image.open(path)
    assert got.size == (W, H) and got.info.get("icc_profile") == shots["icc"]
    # The download is the last full-size render (far focus, weaker blur), not the preview.
    # (JPEG at quality 95 against the page's exact PNG: ~2 levels on this noisy texture.)
    file = np.asarray(got.convert("RGB"), np.float32)
    off_last, off_near = (np.abs(file - x).mean() for x in (_fetch(previous), shown["near"]))
    assert off_last < 3.0 and off_last < 0.5 * off_near, (off_last, off_near)
    assert proc.poll() is None


def _fetch_photo(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), np.float32)

