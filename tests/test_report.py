"""`curate report`: a self-contained HTML page of a run, checked in headless Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from conftest import run_recipe, write_jsonl

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_browser = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (Debian: apt-get "
                                                            "install chromium; `make test` installs it where it can)")


def _run(tmp_path):
    rows = [{"instruction": f"Explain topic {k} in two sentences.", "output": f"Topic {k} is about things. It matters.",
             "source": "a" if k % 3 else "b"} for k in range(40)]
    rows += [{"instruction": "Explain topic 1 in two sentences.", "output": "Topic 1 is about things. It matters.",
              "source": "a"}, {"instruction": "Say yes.", "output": "Yes", "source": "b"}]
    write_jsonl(tmp_path / "d.jsonl", rows)
    from curate.models.fasttext_model import train_rows
    train_rows([f"__label__{'good' if k % 2 else 'other'} topic {k % 40} things {'fine' if k % 2 else 'bad'}"
                for k in range(400)], tmp_path / "q.bin",
               0.1, 5, 0.5, 2, 16, 0)
    steps = [{"use": "filter.length", "with": {"field": "response", "unit": "words", "min": 2}},
             {"use": "dedup.exact"},
             {"use": "score.fasttext", "with": {"model": str(tmp_path / "q.bin")}},
             {"use": "filter.where", "with": {"expr": "instruction NOT LIKE '%topic 3_ %'", "reason": "low_quality"}}]
    inputs = [{"path": str(tmp_path / "d.jsonl")}]
    return run_recipe(tmp_path, inputs, steps)


def _browser(page, tmp_path) -> tuple[str, str]:
    """(the DOM after load, the console log) of `page` in headless Chromium; writes a screenshot."""
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0"]
    dom = subprocess.run(flags + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    shot = subprocess.run(flags + [f"--screenshot={tmp_path / 'shot.png'}", "--window-size=1200,2400", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    return dom.stdout, dom.stderr + shot.stderr


@needs_browser
def test_the_report_page_loads_with_every_plot_and_a_hoverable_map(tmp_path, cli):
    result = _run(tmp_path)
    out = cli("report", result.dir, "--embed", "--out", tmp_path / "report.html")
    assert out.exit_code == 0, out.output
    page = tmp_path / "report.html"
    assert "http://" not in page.read_text() and "https://" not in page.read_text()     # nothing fetched at view time
    dom, console = _browser(page, tmp_path)
    for element in ("funnel-plot", "length-plot", "embedding-map"):
        assert f'id="{element}"' in dom, element
    assert dom.count('class="score-plot"') == 2 and dom.count('class="source-plot"') == 1   # one per label
    assert dom.count('class="pt"') == 42                                   # every input record on the map
    assert "dropped: too_short" in dom and "dropped: low_quality" in dom and "dropped: exact_duplicate" in dom
    assert "Dropped by filter.where: low_quality" in dom                  # samples per reason, with the record
    assert "CONSOLE" not in console or "Uncaught" not in console
    from PIL import Image
    shot = np.asarray(Image.open(tmp_path / "shot.png").convert("L"))
    assert shot.shape[0] > 1000 and shot.std() > 10                       # a page was drawn, not a blank one


def test_a_run_without_embeddings_says_how_to_add_them_and_renders_the_rest(tmp_path, cli):
    result = _run(tmp_path)
    out = cli("report", result.dir)
    assert out.exit_code == 0, out.output
    page = (result.dir / "report.html").read_text()
    assert "id='map-missing'" in page and "--embed" in page and "id='funnel-plot'" in page
    assert "rows in = kept + rejected: checked" in page


def test_a_run_from_an_older_curate_is_a_clear_message(tmp_path, cli):
    result = _run(tmp_path)
    manifest = json.loads((result.dir / "manifest.json").read_text())
    for stage in manifest["stages"]:
        del stage["kept"]
    manifest["versions"]["curate"] = "0.0.1"
    (result.dir / "manifest.json").write_text(json.dumps(manifest))
    out = cli("report", result.dir)
    assert out.exit_code != 0 and "written by curate 0.0.1" in out.output and "Traceback" not in out.output
    assert cli("report", tmp_path).exit_code != 0
