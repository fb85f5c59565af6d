"""allocator report: one self-contained HTML file, rendered by headless Chromium without errors."""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from allocator import cli
from _plans import session_plans
from allocator.views.compare import load_plans
from allocator.views.report import render_report
from conftest import TINY

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SVG = re.compile(r"(<svg[\s\S]*?</svg>)")


@pytest.fixture(scope="module")
def plans(tmp_path_factory):
    return session_plans(tmp_path_factory)


@pytest.fixture(scope="module")
def report(plans, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.html"
    result = CliRunner().invoke(cli.main, ["report", str(plans["maxmin"]), str(plans["shortfall"]), str(plans["facilities"]),
                                           str(plans["infeasible"]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    return out


def distinct_colours(image: Image.Image) -> int:
    rgb = np.asarray(image.convert("RGB")).reshape(-1, 3).astype(np.int32)
    return len(np.unique((rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]))


def test_report_says_what_changes_for_each_district(report):
    html = report.read_text(encoding="utf-8")
    for words in ("渝北区", "巴南区", "执法人员（含机动）", "执法覆盖率", "→", "最优", "不可行", "基尼系数", "间隙",
                  "使覆盖率最低的单位尽可能高", "编制总数"):
        assert words in html, words
    # a change is "+3 (+25%)"; a district both plans staff alike reads "0（12 → 12）"
    changes = re.findall(r"执法人员（含机动） (?:[+-]\d+ \([+-]\d+%\)|0（(\d+) → (\d+)）)", html)
    assert changes and all(a == b for a, b in changes if a)


def test_report_is_self_contained_with_charts_whose_text_is_text(report):
    """Charts are inline SVG with their words as <text>: a browser draws the district names in the
    reader's fonts, whatever fonts the machine that wrote the report had."""
    html = report.read_text(encoding="utf-8")
    assert not re.search(r'(src|href)\s*=\s*["\']?(https?:|//)', html)
    assert "url(http" not in html and "@import" not in html and "<script" not in html
    charts = SVG.findall(html)
    assert len(charts) >= 4                       # tradeoff, bars, lorenz, map, coverage
    assert "<img " not in html
    for markup in charts:
        texts = re.findall(r"<text[^>]*>([^<]*)</text>", markup)
        assert texts and any(t.strip() for t in texts)
        assert len(re.findall(r"<path", markup)) > 5          # drawn, not an empty frame
    names = " ".join(re.findall(r"<text[^>]*>([^<]*)</text>", " ".join(charts)))
    assert "渝北区" in names


def test_zh_report_says_the_basis_in_chinese(report):
    html = report.read_text(encoding="utf-8")
    assert re.search(r"人口口径: (户籍人口|常住人口|实有人口)<", html)


def test_english_report(plans):
    html = render_report(load_plans([plans["maxmin"], plans["grid"], plans["city_plan"]]), lang="en")
    assert "What changes for each district" in html and "enforcement coverage" in html and "optimal" in html
    assert "district service index" in html and "transfer" in html


def test_bad_input_writes_nothing(plans, tmp_path):
    for args, words in ((["--out", str(tmp_path / "r.pdf")], ".html"),
                        (["--out", str(tmp_path / "no" / "r.html")], "does not exist")):
        result = CliRunner().invoke(cli.main, ["report", str(plans["maxmin"]), *args])
        assert result.exit_code == 2 and words in result.output, result.output
    result = CliRunner().invoke(cli.main, ["report", str(plans["maxmin"]), str(plans["other"]), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 2 and "different instances" in result.output
    assert not any(tmp_path.iterdir())


def chromium(url: str, png, tmp_path, height: int) -> list[str]:
    """Screenshot `url`; return the page's console messages (Chromium logs them as CONSOLE lines)."""
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
             "--hide-scrollbars", f"--window-size=1200,{height}", f"--screenshot={png}"]
    env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": "disabled:"}
    done = subprocess.run([CHROMIUM, *flags, url], capture_output=True, text=True, timeout=90, env=env, stdin=subprocess.DEVNULL)
    assert png.exists(), done.stderr[-2000:]
    return [line for line in done.stderr.splitlines() if "CONSOLE" in line]


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"),
                    reason="needs Debian's chromium (apt-get install chromium; .ci/run installs it; required with CI=true)")
def test_chromium_renders_the_report_without_console_errors(report, tmp_path):
    control = tmp_path / "control.html"
    control.write_text('<p>x</p><script>console.error("control-message")</script>', encoding="utf-8")
    assert any("control-message" in line for line in chromium(control.as_uri(), tmp_path / "control.png", tmp_path, 300))

    shot = tmp_path / "report.png"
    assert chromium(report.as_uri(), shot, tmp_path, 7000) == []
    page = Image.open(shot).convert("RGB")
    assert distinct_colours(page) > 500                   # text, tables and charts, not a blank or error page
    pixels = np.asarray(page)
    rows_with_ink = (pixels.min(axis=2) < 200).any(axis=1)
    assert rows_with_ink.mean() > 0.3                     # the content fills the page


def test_the_zh_report_names_the_city_in_chinese(tmp_path):
    """city.yaml's name_zh heads the zh report; the en report keeps name."""
    city = tmp_path / "city"
    shutil.copytree(TINY, city)
    yaml = (city / "city.yaml").read_text(encoding="utf-8")
    (city / "city.yaml").write_text(yaml.replace("name: tiny", "name: tiny\nname_zh: 小城"), encoding="utf-8")
    plan = tmp_path / "plan"
    assert CliRunner().invoke(cli.main, ["solve", str(city), "--model", "enforcement", "--out", str(plan)]).exit_code == 0
    zh, en = render_report(load_plans([plan]), lang="zh"), render_report(load_plans([plan]), lang="en")
    assert "小城" in zh and "小城" not in en and "tiny" in en
