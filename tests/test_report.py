"""The HTML report: self-contained, loads in headless Chromium with no console errors, every plot drawn."""

import functools
import os
import shutil

import pytest
import yaml

import fusegen
from fusegen import reporting
from fusegen.evaluation import evaluate_run
from fusegen.reporting import build_report
from fusegen.spec import load_spec

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def reports(tmp_path_factory, examples_dir):
    """One report per output kind, from short training runs of the reference examples."""
    paths = {}
    for name, overrides in {
        "tabular_augment": {"epochs": 5},
        # One model and one discriminator: the report is under test, not the score.
        "sensors_to_series": {"epochs": 2, "ensemble": 1},
        "image_text_to_image": {"epochs": 1},
    }.items():
        raw = yaml.safe_load((examples_dir / f"{name}.yaml").read_text())
        raw["training"].update(overrides)
        if name == "image_text_to_image":
            raw["data"]["options"]["num_images"] = 20
        if name == "sensors_to_series":
            raw["evaluation"] = {"discriminative_fits": 1}
        run_dir = tmp_path_factory.mktemp(name)
        fusegen.Generator(load_spec(raw)).fit(verbose=0).save(run_dir)
        with pytest.MonkeyPatch.context() as patch:
            # TimeGAN's post-hoc networks train 2 steps, not 2,000 and 5,000 (a minute of the
            # sensors report): its scores' section and plots are drawn all the same.
            quick = functools.partial(evaluate_run, timegan_iterations=(2, 2))
            patch.setattr(reporting, "evaluate_run", quick)
            paths[name] = build_report(run_dir)
    return paths


def test_report_is_one_self_contained_file(reports):
    for path in reports.values():
        html = path.read_text()
        assert "<img" in html and "data:image/png;base64," in html
        # Nothing is fetched: no external scripts, styles or images.
        assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html
        assert "Shape plan" in html and "Training" in html and "Evaluation" in html


def _browser():
    if not (CHROMIUM and CHROMEDRIVER):
        if os.environ.get("CI") == "true":
            pytest.fail("chromium and chromedriver must be installed in CI (see .ci/run)")
        pytest.skip("chromium and chromedriver are not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def test_report_renders_in_headless_chromium(reports):
    from selenium.webdriver.common.by import By

    driver = _browser()
    try:
        for name, path in reports.items():
            driver.get(path.resolve().as_uri())
            errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
            assert errors == [], (name, errors)
            images = driver.find_elements(By.CSS_SELECTOR, "figure.plot img")
            assert len(images) >= 2, name  # real-vs-generated plots and the training curves
            for image in images:
                width, height = driver.execute_script(
                    "return [arguments[0].naturalWidth, arguments[0].naturalHeight];", image
                )
                assert width > 100 and height > 100, (name, image.get_attribute("alt"))
            rows = driver.find_elements(By.CSS_SELECTOR, "#metrics tr")
            assert len(rows) > 2, name
            assert driver.find_elements(By.CSS_SELECTOR, "#plan tr")
    finally:
        driver.quit()
