"""`profile-model sweep --zoo hf` (issue 27): registry types through profile_row, counted or named with their
reason; --only and --resume for the hf zoo. Expected MACs from the architectures' closed forms."""
import csv
import sys
import types

import pytest

from profiler.cli import main
from profiler.studies.sweep import SKIPPED_STATUSES, profile_row, summarise
from profiler.zoo import hf_registry, profile_model


def _layers(tokens: int, hidden: int, inner: int, layers: int) -> int:
    """MACs of ``layers`` BERT/GPT-2/ViT encoder layers over ``tokens``: Q, K, V and the output projection
    (4 T H^2), the MLP (2 T H I) and attention's scores and weighted sum (2 T^2 H)."""
    return layers * (4 * tokens * hidden * hidden + 2 * tokens * hidden * inner + 2 * tokens * tokens * hidden)


def test_bert_gpt2_vit_default_configs_count_their_closed_forms():
    # BERT-base (the default config): 12 layers, H 768, I 3072; base model at 128 tokens, plus the pooler (H^2)
    bert = profile_row("hf", "bert")
    assert bert["status"] == "ok" and bert["input"] == "128"
    assert bert["macs"] == _layers(128, 768, 3072, 12) + 768 * 768
    # GPT-2 small: the same layers, with its causal-LM head (T x H x vocab 50,257)
    gpt2 = profile_row("hf", "gpt2")
    assert gpt2["status"] == "ok" and gpt2["input"] == "128"
    assert gpt2["macs"] == _layers(128, 768, 3072, 12) + 128 * 768 * 50257
    assert gpt2["params"] == 124_439_808  # GPT-2 small as published (tied LM head counted once)
    # ViT-B/16 at 224: 196 patches + [CLS], the patch embedding (a 16x16x3 -> 768 conv per patch), the pooler
    vit = profile_row("hf", "vit")
    assert vit["status"] == "ok" and vit["input"] == "3x224x224"
    assert vit["macs"] == 196 * 768 * 3 * 16 * 16 + _layers(197, 768, 3072, 12) + 768 * 768


def test_speech_and_audio_types_are_counted_with_their_inputs():
    whisper = profile_row("hf", "whisper")  # log-mel features plus 128 decoder tokens
    assert whisper["status"] == "ok" and whisper["input"] == "128" and int(whisper["macs"]) > 0
    wav2vec2 = profile_row("hf", "wav2vec2")  # one second of waveform at 16 kHz
    assert wav2vec2["status"] == "ok" and wav2vec2["input"] == "16000"


def test_types_not_counted_are_named_with_their_reason():
    # a SAM part: its config has no model class of its own
    part = profile_row("hf", "sam_mask_decoder")
    assert part["status"] == "not-buildable" and "no model class of its own" in part["error"]
    # transformers refuses its own default config (a time-series model needs prediction_length)
    own = profile_row("hf", "autoformer")
    assert own["status"] == "hf-error" and "prediction_length" in own["error"]
    # a time series: an input kind the sweep does not make, named
    ts = profile_row("hf", "patchtst")
    assert ts["status"] == "needs-inputs" and ts["error"].startswith("input kind not made yet: time series")
    assert {"not-buildable", "hf-error", "needs-inputs"} <= set(SKIPPED_STATUSES)
    s = summarise([part, own, ts])
    assert s["failures"] == [] and s["counted"] == 0
    # the report groups them by reason, the type's own details (names, numbers) left out
    assert hf_registry.reason(part) == \
        "not-buildable: a sub-config with no model class of its own (a part of a composite model)"
    assert hf_registry.reason(own) == "hf-error: ValueError: The '...' config needs to be specified."
    assert hf_registry.reason(ts) == ts["error"]


def test_a_type_whose_code_is_on_the_hub_only_is_remote_code(monkeypatch):
    from transformers import PretrainedConfig

    # a registry entry mapped to a config of another type whose modeling module does not exist here
    cls = type("HubOnlyConfig", (PretrainedConfig,), {"model_type": "hub_only_model",
                                                       "__module__": "transformers.models.hub_only.configuration_x"})
    config = cls()
    config.model_type = "hub_only"  # the registry's key, not the config class's own model_type
    monkeypatch.setitem(sys.modules, "transformers.models.hub_only", types.ModuleType("hub_only"))
    with pytest.raises(hf_registry.RemoteCodeError, match="on the hub only"):
        hf_registry.fallback_class(config)
    status, error = hf_registry.classify(hf_registry.RemoteCodeError("hf:hub_only: code on the hub only"), "hub_only")
    assert status == "remote-code"


def test_input_words_name_the_kind():
    assert hf_registry.input_words("pixel_values_videos") == "video frames (pixel_values_videos)"
    assert hf_registry.input_words("['pixel_values', 'task_inputs']") == \
        "an image and task tokens (pixel_values+task_inputs)"


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_only_and_resume_for_the_hf_zoo(tmp_path, capsys):
    out = tmp_path / "sweep_hf.csv"
    # --only: a glob over the registry's model types (*roberta: roberta and xlm-roberta, both encoders)
    assert main(["sweep", "--zoo", "hf", "--only", "*roberta", "--limit", "1", "--output", str(out),
                 "--no-progress"]) == 0
    rows = _rows(out)
    assert [(r["name"], r["status"], r["input"]) for r in rows] == [("roberta", "ok", "128")]
    first = rows[0]["macs"]
    # --resume: roberta is kept as it was, only xlm-roberta is profiled and appended
    assert main(["sweep", "--zoo", "hf", "--only", "*roberta", "--resume", "--output", str(out),
                 "--no-progress"]) == 0
    rows = _rows(out)
    assert [r["name"] for r in rows] == ["roberta", "xlm-roberta"] and rows[0]["macs"] == first
    assert all(r["status"] == "ok" for r in rows)
    assert "hf: 2/2 architectures counted (100.0 %)" in capsys.readouterr().out


def test_a_default_config_that_contradicts_itself_is_hf_forward_with_its_proof():
    from profiler.core.engine import ProfilingError

    # DeepSeek-OCR-2's vision tower: the SAM encoder's 896 channels meet learned queries of the encoder's 4096 (a
    # real CPU pass fails the same); its error, as the meta pass raises it, is named as the default config's fault
    cause = RuntimeError("Sizes of tensors must match except in dimension 1. Expected size 896 but got size 4096")
    exc = ProfilingError(f"forward pass failed in module 'model' (X): RuntimeError: {cause}")
    exc.__cause__ = cause
    status, error = hf_registry.classify(exc, "deepseek_ocr2_vision")
    assert status == "hf-forward" and error.startswith("transformers' default config is self-inconsistent: ")
    assert "a real CPU pass fails the same" in error
    assert hf_registry.reason({"status": status, "error": error}).startswith(
        "hf-forward: the default config contradicts itself")
    # another error of that type is not taken for the contradiction
    other = ProfilingError("forward pass failed in module 'rotary_emb': RuntimeError: something else")
    assert hf_registry.classify(other, "deepseek_ocr2_vision")[0] == "failed"


def test_a_repaired_contradiction_is_counted_and_its_entry_gone():
    # GLM-4V's text model: partial_rotary_factor 0.5 (GLM-4.1V's published config) repairs its rotary sections
    row = profile_row("hf", "glm4v_text")
    assert row["status"] == "ok" and "partial_rotary_factor=0.5" in row["notes"]
    from profiler.zoo import hf_repairs

    assert not set(hf_registry.CONFIG_CONFLICTS) & set(hf_repairs.REPAIRS)


def test_an_assistant_model_needs_its_target_models_states():
    row = profile_row("hf", "gemma4_assistant")
    assert row["status"] == "needs-inputs"
    assert row["error"].startswith("input kind not made yet: another model's embeddings and KV states (an "
                                   "assistant/draft model) (inputs_embeds+shared_kv_states)")


def test_a_type_with_only_a_classification_head_is_counted_with_it():
    # PP-LCNet has no base model in transformers: its one head is the default task. At 224 px its last stage is
    # 512 x 7 x 7; then global pooling, a 1x1 conv to class_expand 1280 and the classifier (2 labels by default).
    row = profile_row("hf", "pp_lcnet")
    assert row["status"] == "ok" and row["input"] == "3x224x224"
    p = profile_model("hf:pp_lcnet")
    assert p.source.task == "classification"
    assert p.layer("last_convolution").counts()["conv"] == 512 * 1280
    assert p.layer("head").counts()["linear"] == 1280 * 2


def test_a_construction_refused_for_memory_after_failing_on_meta_is_classified_by_the_meta_failure():
    # granite4_vision's default config fails its own construction on meta (a field left None); the guarded CPU
    # construction tried next is refused before it allocates: the reason is transformers' error, said with both
    from profiler.zoo.memory import TooBigError

    refused = TooBigError("hf:x: its construction failed on meta; the construction on the CPU had allocated 4.7 GiB")
    refused.__cause__ = TypeError("object of type 'NoneType' has no len()")
    status, error = hf_registry.classify(refused, "x")
    assert status == "hf-error"
    assert "NoneType' has no len()" in error and "would not fit in memory" in error
