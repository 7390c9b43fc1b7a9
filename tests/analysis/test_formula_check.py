"""Our exact training step beside the frameworks' formulas: on Llama-3-8B, Mixtral-8x7B and DeepSeek-V3 configs
cut to 2 layers (meta), every difference is named and nothing is left unexplained; the named parts equal hand
calculations written here; the command line prints the table in 120 columns; the table of accelerator peaks."""
import pytest

from profiler import zoo
from profiler.analysis.formula_check import formula_check, nanogpt_params
from profiler.cli import main

B, T = 2, 64
MODELS = {
    "llama": ("hf:benchmarks/configs/llama-3-8b.json", {"num_hidden_layers": 2}),
    "mixtral": ("hf:benchmarks/configs/mixtral-8x7b-v0.1.json", {"num_hidden_layers": 2}),
    # layer 0 dense, layer 1 MoE (the published config's first 3 layers are dense)
    "deepseek": ("hf:benchmarks/configs/deepseek-v3.json", {"num_hidden_layers": 2, "first_k_dense_replace": 1}),
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def checked(request):
    spec, kwargs = MODELS[request.param]
    prof = zoo.profile_model(spec, input=(T,), batch=B, backward=True, device="meta", **kwargs)
    return request.param, formula_check(prof)


def _part(check, start):
    return next(d.flops for d in check.differences if d.what.startswith(start))


def test_nothing_is_left_unexplained(checked):
    name, report = checked
    for check in report.checks:
        assert check.unexplained == 0, (name, check.estimate.name)
        assert check.ours == report.ours_flops


def test_named_parts_are_their_hand_calculations(checked):
    name, report = checked
    megatron, palm = report.checks
    tokens = B * T
    if name == "llama":  # 32 heads x 128, SDPA's fused backward; 4096 x 128256 untied embedding
        forward = B * 32 * T * T * (128 + 128)  # QK^T + AV MACs of one layer, every T x T pair
        assert _part(megatron, "causal half") == 2 * 3 * forward // 2 * 2  # half of forward + 2 gradients, in FLOPs
        assert _part(megatron, "fused attention") == 2 * 2 * B * 32 * T * T * 128  # QK^T again, 2 layers
        assert _part(palm, "input embedding") == -6 * tokens * 128256 * 4096
        assert _part(palm, "norm weights") == -6 * tokens * 5 * 4096  # 2 per layer + the final norm
    if name == "mixtral":  # the router: a 4096 -> 8 GEMM, forward + 2 gradients, 2 layers
        assert _part(megatron, "routers") == 2 * 3 * tokens * 4096 * 8 * 2
    if name == "deepseek":  # eager attention (no recompute); MLA: H x (192 + 128); router 7168 -> 256 in layer 1
        forward = B * 128 * T * T * (192 + 128)
        assert _part(megatron, "causal half") == 2 * 3 * forward // 2 * 2
        assert _part(megatron, "fused attention") == 0
        assert _part(megatron, "routers") == 2 * 3 * tokens * 7168 * 256
        assert _part(megatron, "MLA's") == -6 * (1536 + 512) * tokens * 2


def test_n_of_the_6n_rule_is_nanogpts_for_gpt2():
    prof = zoo.profile_model("hf:gpt2", input=(8,), device="meta")
    assert nanogpt_params(prof) == 123_653_376  # nanoGPT: "number of parameters: 123.65M" (wpe left out)


def test_command_line_prints_the_table_in_120_columns(capsys):
    code = main(["hf:llama", "--kwargs", "num_hidden_layers=2", "hidden_size=128", "intermediate_size=256",
                 "num_attention_heads=4", "num_key_value_heads=2", "vocab_size=1000", "--input", "32", "--train",
                 "--crosscheck", "formulas", "--step-time", "0.001", "--accelerator", "h100-sxm"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Megatron-LM" in out and "6N+12LHQT" in out and "unexplained (FLOPs)" in out
    assert "MFU at 0.001 s per step on 989.4 TFLOP/s" in out
    section = out[out.index("Cross-check with the frameworks' FLOPs formulas"):]
    section = section[:section.index("sign: ")]  # the section's last line (the per-layer table is the page's)
    assert max(len(line) for line in section.splitlines()) <= 120


def test_formulas_need_a_training_step(capsys):
    assert main(["hf:llama", "--kwargs", "num_hidden_layers=1", "--crosscheck", "formulas"]) == 2
    assert "add --train" in capsys.readouterr().err


def test_accelerator_peaks():
    from profiler.analysis.mfu import ACCELERATORS, peak_tflops
    from profiler.cli import choices

    assert choices.ACCELERATORS == tuple(ACCELERATORS)
    assert peak_tflops("h100-sxm") == 989.4 and peak_tflops("a100") == 312.0 and peak_tflops("l4") == 121.0
    assert all("https://" in source for _, source in ACCELERATORS.values())
    with pytest.raises(ValueError, match="no fp16 peak"):
        peak_tflops("tpu-v5e", "fp16")
