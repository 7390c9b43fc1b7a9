"""``profile-model MODEL --output x.html`` writes the standalone HTML page (profiler/report/html.py) through the
atomic write, and ``--format html`` prints the same page. The model's costs are closed forms."""
import textwrap

import pytest

from profiler import atomic
from profiler.cli import main

# On --input 6 (a 1x3x6x6 image: 18 vectors of 6): Linear(6, 4) = 18 x 24 = 432 MACs, 28 params;
# Linear(4, 2) = 18 x 8 = 144 MACs, 10 params
NET = textwrap.dedent("""
    import torch.nn as nn

    def build():
        return nn.Sequential(nn.Sequential(nn.Linear(6, 4), nn.ReLU()), nn.Linear(4, 2))
    """)


@pytest.fixture
def net(tmp_path):
    path = tmp_path / "tiny_html_net.py"
    path.write_text(NET)
    return f"{path}:build"


def test_output_html_is_the_standalone_page_written_atomically(capsys, net, tmp_path, monkeypatch):
    opened = []
    real = atomic.atomic_open

    def spy(path, *args, **kwargs):
        opened.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(atomic, "atomic_open", spy)
    target = tmp_path / "report.html"
    assert main([net, "--input", "6", "--output", str(target)]) == 0
    out, err = capsys.readouterr()
    assert out == "" and "wrote the html report" in err and opened == [str(target)]
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and '<meta charset="utf-8">' in page and "<style>" in page
    assert "<details open>" in page and 'data-path="0"' in page
    assert '<div class="num cost">576</div>' in page  # the totals row: 432 + 144 MACs
    assert '<div class="num params">38</div>' in page  # 28 + 10 params
    assert '<div class="num sum cost-sum">[432]</div>' in page  # the inner Sequential's subtree

    assert main([net, "--input", "6", "--format", "html"]) == 0
    printed = capsys.readouterr().out
    assert printed.rstrip("\n") == page.rstrip("\n")
