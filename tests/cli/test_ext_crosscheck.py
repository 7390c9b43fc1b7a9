"""``profile-model NAME --crosscheck [TOOL ...]``: JSON gets the fixed contract, text gets both sections,
a bad tool name is a one-line usage error (exit 2)."""
import contextlib
import io
import json

from profiler.cli import main


def run(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def test_json_contract():
    code, out, _ = run(["blocks_mnist_plain", "--crosscheck", "fvcore", "torch", "--format", "json"])
    assert code == 0
    doc = json.loads(out)
    cc = doc["crosscheck"]
    assert set(cc) == {"fvcore", "torch"}
    for e in cc.values():
        assert e["theirs"] - e["ours"] - sum(i["macs"] for i in e["explained"]) == e["unexplained"] == 0
    # torch's FLOPs are 2 x our multiply-accumulates (no bias): the default `macs` total of the same pass.
    assert cc["torch"]["ours"] == 2 * doc["macs"] and cc["torch"]["unit"] == "FLOPs"


def test_text_sections():
    code, out, _ = run(["blocks_mnist_plain", "--crosscheck", "torch"])
    assert code == 0
    assert "Cross-check with peer tools" in out and "FLOPs" in out


def test_bad_tool_exit_2():
    code, _, err = run(["blocks_mnist_plain", "--crosscheck", "nosuchtool"])
    assert code == 2
    assert err.count("\n") == 1 and "nosuchtool" in err
