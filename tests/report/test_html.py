"""tables/index.html: one self-contained page with every table and figure, provenance on hover, citation
links, sortable long tables; checked as text and in a real headless browser (Debian's `chromium`)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from harness.report import build_report
from harness.sample_grid import save_grid
from report_fixtures import run_record, synthetic_records, with_curve, write_records

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NO_BROWSER = "needs Debian's headless browser: apt-get install -y chromium (.ci/run installs it)"
BROWSER_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--enable-logging=stderr", "--v=0",
                 "--virtual-time-budget=10000", "--window-size=1280,1600")


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    """A report of digits and ImageNet runs (curves, published points, a sample grid): every figure kind."""
    import torch

    root = tmp_path_factory.mktemp("html")
    records = synthetic_records(14, cases=(4, 5)) + [
        with_curve(run_record(7000, "gan_only", case=5, seed=0), [90.0, 30.0], [1.0, 2.0])]
    results = write_records(root / "results", records)
    images = torch.rand((16, 1, 8, 8), generator=torch.Generator().manual_seed(0)) * 2 - 1
    save_grid(images, results / records[-1]["run_id"] / "samples.png", grid=4, title="gan_only")
    build_report(results, root / "tables")
    return root / "tables" / "index.html"


def test_page_is_self_contained_and_links_only_files_beside_it(page):
    text = page.read_text(encoding="utf-8")
    links = re.findall(r'(?:src|href)="([^"#][^"]*)"', text)
    assert links and not [link for link in links if "://" in link or link.startswith("/")]
    assert not [link for link in links if not (page.parent / link).is_file()], "a link points at no file"
    images = re.findall(r'<img src="([^"]+)"', text)
    assert {"figure_1a.png", "curves.png", "samples.png", "spectrum.png"} <= set(images)
    for table in ("one_step", "cost", "runs", "tuned"):
        assert f'<section id="{table}">' in text


def test_rows_carry_their_records_and_citations_link_to_their_sources(page):
    text = page.read_text(encoding="utf-8")
    assert re.search(r'<tr title="from \d+ records?: [^"]*record\.json', text), "no row names its records"
    mark = re.search(r'<a href="#(one_step-source-(\d+))">\[\2\]</a>', text)
    assert mark and f'<li id="{mark.group(1)}">' in text
    assert 'class=sortable' in text and "<table>" in text  # long tables sort, short ones do not


def browse(page: Path, tmp_path: Path) -> tuple[list[str], str, np.ndarray]:
    """Open ``page`` in headless chromium: its console messages, the DOM after load, a screenshot."""
    from PIL import Image

    shot = tmp_path / "shot.png"
    profile = tmp_path / "profile"
    profile.mkdir()
    done = subprocess.run([CHROMIUM, *BROWSER_FLAGS, f"--user-data-dir={profile}", f"--screenshot={shot}",
                           "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return console, done.stdout, np.asarray(Image.open(shot).convert("L"))


def images_loaded(dom: str) -> int:
    found = re.search(r'data-images-loaded="(\d+)"', dom)
    assert found, "the page's load handler did not run"
    return int(found.group(1))


@pytest.mark.skipif(CHROMIUM is None, reason=NO_BROWSER)
def test_page_loads_in_a_headless_browser_without_console_messages(page, tmp_path):
    console, dom, shot = browse(page, tmp_path)
    assert console == []  # the page logs nothing; an error or a broken image would be logged
    assert images_loaded(dom) == page.read_text().count("<img ") >= 4
    assert shot.std() > 20 and len(np.unique(shot)) > 50, "the screenshot is blank"


@pytest.mark.skipif(CHROMIUM is None, reason=NO_BROWSER)
def test_the_browser_check_catches_a_broken_image(page, tmp_path):
    """The check above could fail: the same page with one image renamed away is caught."""
    broken = tmp_path / "site"
    shutil.copytree(page.parent, broken)
    (broken / "curves.png").unlink()
    console, dom, _ = browse(broken / "index.html", tmp_path)
    assert any("image did not load: curves.png" in line for line in console), console
    assert images_loaded(dom) == page.read_text().count("<img ") - 1
