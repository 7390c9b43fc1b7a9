"""The HTML report (profiler/report/html.py) in a real browser: headless Chromium through Selenium, a 1280 px
window. The page fits without horizontal scrolling (folded and fully unfolded), a folded stage's summary
unfolds its children on a click, and the totals cell reads the JSON document's total.

Without chromium, chromedriver or selenium these tests skip, saying why; on CI (CI=true) they fail instead,
since .ci/run installs the browser (they skip there only when its install failed, and say so). Expected module names come from torchvision's ResNet-50 structure
(4 stages of 3/4/6/3 Bottlenecks), not from our output."""
import json
import os
import shutil

import pytest

WIDTH = 1280
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _missing() -> str | None:
    """Why the browser tests cannot run here (None: they can)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium; it is in the dev extras)"
    if not any(shutil.which(b) for b in BROWSERS):
        return "no Chromium on PATH (apt-get install chromium chromium-driver)"
    if not shutil.which("chromedriver"):
        return "no chromedriver on PATH (apt-get install chromium-driver)"
    return None


@pytest.fixture(scope="module")
def browser():
    why = _missing()
    if why:
        failed_install = os.environ.get("PROFILER_BROWSER_INSTALL_FAILED")
        if os.environ.get("CI") == "true" and not failed_install:
            pytest.fail(f"CI=true and the browser tests cannot run: {why}")
        why += f" ({failed_install})" if failed_install else ""
        pytest.skip(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={WIDTH},900"):
        options.add_argument(arg)
    binary = next(shutil.which(b) for b in BROWSERS if shutil.which(b))
    options.binary_location = binary
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_window_size(WIDTH, 900)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def resnet50():
    import torch
    import torchvision

    import profiler

    return profiler.profile(torchvision.models.resnet50(weights=None), torch.randn(1, 3, 224, 224))


@pytest.fixture(scope="module")
def mixnet_s():
    pytest.importorskip("timm")
    from profiler.zoo import profile_model

    return profile_model("mixnet_s", input=224)


def _open(browser, prof, tmp_path, name):
    from profiler.report import render

    path = tmp_path / f"{name}.html"
    path.write_text(render(prof, "html"), encoding="utf-8")
    browser.get(path.as_uri())
    return path


def _overflow(browser) -> tuple[int, int]:
    """The page's width and the room it has: the window less a vertical scrollbar (clientWidth <= innerWidth),
    so content hidden under the scrollbar counts as overflow too."""
    return tuple(browser.execute_script(
        "const e = document.documentElement; return [e.scrollWidth, Math.min(e.clientWidth, window.innerWidth)]"))


def _unfold_all(browser):
    # the page has no script; the test opens every <details> as a reader clicking every row would
    browser.execute_script("document.querySelectorAll('details').forEach(d => d.open = true)")


@pytest.mark.parametrize("model", ["resnet50", "mixnet_s"])
def test_fits_1280_px_without_horizontal_scroll(browser, tmp_path, model, request):
    prof = request.getfixturevalue(model)
    _open(browser, prof, tmp_path, model)
    assert browser.execute_script("return window.innerWidth") == WIDTH
    scroll, inner = _overflow(browser)
    assert scroll <= inner, f"{model}: the page is {scroll} px wide in a {inner} px window"
    _unfold_all(browser)
    scroll, inner = _overflow(browser)
    assert scroll <= inner, f"{model}, every module unfolded: {scroll} px wide in a {inner} px window"
    shot = tmp_path / f"{model}.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000


def test_clicking_a_folded_stage_shows_its_children(browser, resnet50, tmp_path):
    from selenium.webdriver.common.by import By

    _open(browser, resnet50, tmp_path, "resnet50_click")
    # 1 root + 10 children + 16 Bottlenecks = 27 rows to depth 2; every Bottleneck adds 7 (+1 downsample in
    # each stage's first): 27 + 116 > 60, so the page opens at depth 2 and each Bottleneck starts folded
    block = browser.find_element(By.CSS_SELECTOR, 'summary[data-path="layer2.0"]')
    child = browser.find_element(By.CSS_SELECTOR, '[data-path="layer2.0.conv1"]')
    stage = browser.find_element(By.CSS_SELECTOR, '[data-path="layer2.1"]')
    assert stage.is_displayed() and block.is_displayed() and not child.is_displayed()
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", block)
    block.click()
    assert child.is_displayed()
    inner = browser.find_element(By.CSS_SELECTOR, 'summary[data-path="layer2.0.downsample"]')
    inner_child = browser.find_element(By.CSS_SELECTOR, '[data-path="layer2.0.downsample.0"]')
    assert inner.is_displayed() and not inner_child.is_displayed()  # a container inside stays folded
    inner.click()
    assert inner_child.is_displayed()
    block.click()
    assert not child.is_displayed()


def test_totals_cell_reads_the_json_total(browser, resnet50, tmp_path):
    from selenium.webdriver.common.by import By

    from profiler.report import render

    doc = json.loads(render(resnet50, "json"))
    _open(browser, resnet50, tmp_path, "resnet50_totals")
    total = browser.find_element(By.CSS_SELECTOR, '.total .cost')
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", total)
    assert total.text == f"{doc['macs']:,}"
    assert browser.find_element(By.CSS_SELECTOR, '.total .params').text == f"{doc['params']:,}"
    # the root's subtree total, in brackets, is the same number
    root = browser.find_element(By.CSS_SELECTOR, 'summary[data-path=""] .cost-sum')
    assert root.text == f"[{doc['macs']:,}]"


def test_header_row_stays_in_view_when_scrolled(browser, resnet50, tmp_path):
    from selenium.webdriver.common.by import By

    _open(browser, resnet50, tmp_path, "resnet50_sticky")
    _unfold_all(browser)
    browser.execute_script("window.scrollTo(0, document.documentElement.scrollHeight / 2)")
    top = browser.execute_script("return arguments[0].getBoundingClientRect().top",
                                 browser.find_element(By.CSS_SELECTOR, ".row.head"))
    assert top == 0


@pytest.mark.parametrize("width", [700, 900, 1100])
def test_notebook_fragment_fits_a_narrow_output_area(browser, resnet50, tmp_path, width):
    # a notebook's output area narrower than the window: columns are left out (container queries), the
    # module, shape, own params/MACs, % MACs and [subtree MACs] stay, and nothing sticks out of the area
    from selenium.webdriver.common.by import By

    from profiler.report import to_html

    host = tmp_path / f"notebook_{width}.html"
    host.write_text(f'<!doctype html><meta charset="utf-8"><div id="out" style="width:{width}px">'
                    f"{to_html(resnet50)}</div>", encoding="utf-8")
    browser.get(host.as_uri())
    _unfold_all(browser)
    out = browser.find_element(By.ID, "out")
    scroll, client = browser.execute_script("return [arguments[0].scrollWidth, arguments[0].clientWidth]", out)
    assert scroll <= client, f"the report is {scroll} px wide in a {client} px output area"
    for cell in ("name", "shape", "params", "cost", "cost-pct", "cost-sum"):
        assert browser.find_element(By.CSS_SELECTOR, f".row.head .{cell}").is_displayed(), cell
    assert _overflow(browser)[0] <= _overflow(browser)[1]

