"""profile-model with language models: hf: names, --task, token --input, --generate N, several lengths
(512,2048,8192 for a language model, an image size for any other model), list --zoo hf, one-line errors."""
import json

import pytest

from profiler.cli import main

GPT2 = ["--kwargs", "n_layer=2", "n_embd=64", "n_head=4", "vocab_size=100"]
D, L, V = 64, 2, 100


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_unqualified_type_and_token_input(capsys):
    code, out, _ = run(capsys, "gpt2", "--input", "32", *GPT2, "--format", "json", "--depth", "0")
    doc = json.loads(out)
    assert code == 0 and doc["zoo"] == "hf" and doc["task"] == "causal-lm"
    assert doc["input"] == {"kind": "tokens", "tokens": 32, "batch": 1, "shapes": [[1, 32]]}
    assert doc["macs"] == 32 * (L * 12 * D * D + D * V) + 2 * L * 32 * 32 * D
    code, out, _ = run(capsys, "hf:gpt2", "--input", "32", "--batch", "2", *GPT2, "--depth", "1")
    assert code == 0 and "32 tokens x batch 2 (token ids: 2x32)" in out and "causal-lm head" in out


def test_task_picks_the_head(capsys):
    code, out, _ = run(capsys, "hf:bert", "--task", "masked-lm", "--kwargs", "num_hidden_layers=1",
                       "--format", "json", "--depth", "0")
    assert code == 0 and json.loads(out)["task"] == "masked-lm"


def test_generate(capsys, tmp_path):
    plot = tmp_path / "tokens.png"
    code, out, err = run(capsys, "hf:gpt2", *GPT2, "--generate", "4", "--input", "10", "--plot", str(plot))
    assert code == 0 and plot.stat().st_size > 0 and "wrote the plot" in err
    for t in (11, 12, 13):
        assert f"{L * 12 * D * D + D * V + 2 * L * t * D:,}" in out
    code, out, _ = run(capsys, "hf:gpt2", *GPT2, "--generate", "4", "--input", "10", "--format", "json")
    doc = json.loads(out)
    assert [s["context"] for s in doc["per_token"]] == [11, 12, 13] and doc["new_tokens"] == 4


def test_several_lengths(capsys, tmp_path):
    code, out, _ = run(capsys, "hf:gpt2", *GPT2, "--input", "16,64,256", "--format", "json")
    doc = json.loads(out)
    assert code == 0 and [r["tokens"] for r in doc["lengths"]] == [16, 64, 256]
    assert [r["attention_macs"] for r in doc["lengths"]] == [2 * L * t * t * D for t in (16, 64, 256)]
    plot = tmp_path / "lengths.svg"
    code, out, _ = run(capsys, "hf:gpt2", *GPT2, "--input", "16,64", "--plot", str(plot))
    assert code == 0 and plot.exists() and "attention %" in out


def test_wide_and_files_unwrap_the_generation_and_lengths_pages(capsys, tmp_path):
    """--wide and --output: one line per header/footer item, as the main page; the terminal's: <= 120 columns."""
    for extra in (["--generate", "4", "--input", "10"], ["--input", "16,64"]):
        code, fitted, _ = run(capsys, "hf:gpt2", *GPT2, *extra)
        assert code == 0 and max(map(len, fitted.splitlines())) <= 120
        code, wide, _ = run(capsys, "hf:gpt2", *GPT2, *extra, "--wide")
        assert code == 0 and max(map(len, wide.splitlines())) > 120
        rows = next(line for line in wide.splitlines() if line.startswith("rows "))
        assert rows.rstrip().endswith("attention" if "--generate" not in extra else "per step)")  # whole
        out = tmp_path / "page.txt"
        assert run(capsys, "hf:gpt2", *GPT2, *extra, "--output", str(out))[0] == 0
        assert out.read_text().strip() == wide.strip()


def test_no_phrase_said_twice_on_the_generation_page(capsys):
    code, out, _ = run(capsys, "hf:gpt2", *GPT2, "--generate", "4", "--input", "10", "--batch", "2", "--wide")
    text = " ".join(out.split())
    assert code == 0 and text.count("rule of thumb") == 1 and text.count("with the KV cache") == 1
    assert text.count("batch 2") == 1 and "(all 2 sequences)" in text and text.count("shapes only") == 1


def test_commas_stay_an_image_size_for_other_models(capsys):
    a = run(capsys, "torchvision:resnet18", "--input", "3,32,32", "--format", "json", "--depth", "0")
    b = run(capsys, "torchvision:resnet18", "--input", "3x32x32", "--format", "json", "--depth", "0")
    assert a[0] == b[0] == 0 and json.loads(a[1])["macs"] == json.loads(b[1])["macs"]
    assert json.loads(a[1])["input"] == {"kind": "tensor", "shapes": [[1, 3, 32, 32]], "batch": 1}


@pytest.mark.parametrize("argv,message", [
    (["hf:vit", "--generate", "3"], "--generate needs a language model"),
    (["hf:gpt2", "--generate", "3", "--input", "5,6"], "one prompt length"),
    (["hf:gpt2", "--generate", "3", "--depth", "2"], "--depth applies to one forward pass"),
    (["hf:gpt2", "--input", "16,32", "--crosscheck"], "--crosscheck applies to one forward pass"),
    (["hf:gpt2", "--input", "3x32"], "takes tokens: --input LENGTH"),
    (["hf:llama", "--kwargs", "num_hiden_layers=2"], "did you mean num_hidden_layers"),
    (["hf:gpt2", "--task", "seq2seq-lm"], "no seq2seq-lm model"),
    (["mixnet_s", "--task", "base"], "head of a Hugging Face model"),
    (["hf:some-org/not-cached"], "pass its config file instead: hf:path/to/config.json"),
])
def test_usage_errors_are_one_line_exit_2(capsys, monkeypatch, tmp_path, argv, message):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))  # an empty cache
    code, out, err = run(capsys, *argv)
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err and not out


def test_list_hf(capsys):
    code, out, _ = run(capsys, "list", "gpt", "--zoo", "hf")
    assert code == 0 and "gpt2" in out and "hf" in out
