"""Inputs of registry types that take neither tokens nor a 224 image (issue 27's sweep): a vocoder's spectrogram,
ids over audio codebooks, mel-first and stacked filter banks, flattened patches, a decoder's latents, waveform
channels, and the image size a config gives a sub-config. Each type is counted (small configs where its fields
allow, on meta) and a layer, or the whole pass, checked against its closed form computed here."""
import math

from profiler.studies.sweep import profile_row
from profiler.zoo import hf
from profiler.zoo.build import profile_model
from profiler.zoo.hf_registry import FEATURE_FRAMES, SAMPLING_RATE


def macs(prof, path: str) -> int:
    return prof.inclusive_cost(path, "macs")


def test_a_vocoder_takes_one_second_of_mel_frames():
    # HiFi-GAN: (frames, model_in_dim) mel frames; its upsample rates make 4 x 4 x 4 x 4 = 256 samples a frame, so
    # one second at 16 kHz is ceil(16000 / 256) = 63 frames; conv_pre (kernel 7, padding 3) keeps the 63
    prof = profile_model("hf:speecht5_hifigan", device="meta", upsample_initial_channel=32)
    frames = math.ceil(16000 / 256)
    assert prof.source.input_size == (frames, 80)
    assert macs(prof, "conv_pre") == frames * 80 * 32 * 7
    assert not prof.coverage


def test_musicgen_decoder_ids_hold_one_row_per_codebook():
    # (batch x num_codebooks, T) ids, summed per step over the 4 codebook embeddings: one sequence of T = 128.
    # One layer of width 64 (FFN 128): Q, K, V, O (4 T d^2), the FFN (2 T d f) and attention (2 T^2 d)
    t, d, f = 128, 64, 128
    small = dict(hidden_size=d, num_hidden_layers=1, num_attention_heads=4, ffn_dim=f)
    prof = profile_model("hf:musicgen_decoder", device="meta", **small)
    assert prof.source.input_kind == "tokens" and prof.inputs[0] == [4, t]
    assert prof.macs == 4 * t * d * d + 2 * t * d * f + 2 * t * t * d
    batched = profile_model("hf:musicgen_decoder", device="meta", batch=2, **small)
    assert batched.inputs[0] == [8, t] and batched.macs == 2 * prof.macs


def test_codebook_layouts_read_off_the_forward_and_config():
    def layout(name, arg="input_ids"):
        config = hf.load_config(name)
        return hf.token_layout(hf.model_class(config), config, arg)

    assert layout("musicgen_decoder") == (4, 1)  # (batch x 4, T): its forward's documented shape
    assert layout("dia", "decoder_input_ids") == (1, 9)  # (batch, T, 9): Dia's decoder channels, last
    assert layout("dia") == (1, 1)  # its encoder reads bytes
    assert layout("kyutai_speech_to_text") == (1, 33)  # a text token and 32 audio codes per step
    assert layout("csm") == (1, 1)  # it documents (batch, T) too: plain ids
    assert layout("gpt2") == (1, 1)


def test_mel_first_and_stacked_filter_banks():
    # GLM-ASR's encoder: a Conv1d over the 128 mel bins, so (mel, frames); conv1 (kernel 3, padding 1) keeps them
    glm = profile_model("hf:glmasr_encoder", device="meta", hidden_size=64, num_hidden_layers=1,
                        num_attention_heads=4, num_key_value_heads=4, intermediate_size=128)
    assert glm.source.input_size == (128, FEATURE_FRAMES)
    assert macs(glm, "conv1") == FEATURE_FRAMES * 128 * 64 * 3
    # Granite Speech 5: a frame and its delta, pairs stacked: a Linear of 4 x 80 inputs a row
    granite = profile_model("hf:granite_speech5_encoder", device="meta", hidden_size=64, num_hidden_layers=1,
                            num_attention_heads=2, num_key_value_heads=2, head_dim=32, intermediate_size=128)
    assert granite.source.input_size == (FEATURE_FRAMES, 4 * 80)
    assert macs(granite, "input_linear") == FEATURE_FRAMES * 320 * 64


def test_flattened_patches_and_latents():
    # Molmo2's vision tower embeds (27 x 27 positions) patches of 14 x 14 x 3 values with a Linear
    prof = profile_model("hf:molmo2_vision", device="meta", num_hidden_layers=1)
    assert prof.source.input_size == (729, 14 * 14 * 3)
    assert macs(prof, "patch_embedding") == 729 * 588 * 1152
    # VibeVoice's acoustic decoder: 64 latent channels at 2*2*4*5*5*8 = 3200 samples a frame, one second of them;
    # its causal stem (kernel 7, left-padded) keeps the frames
    frames = math.ceil(SAMPLING_RATE / 3200)
    dec = profile_model("hf:vibevoice_acoustic_tokenizer_decoder", device="meta")
    assert dec.source.input_size == (64, frames)
    assert macs(dec, "stem.conv.conv") == frames * 64 * 2048 * 7


def test_waveform_channels_and_lengths_follow_the_front_end():
    # OmniASR's first Conv1d takes one channel: (1, samples); kernel 10, stride 5
    omni = profile_model("hf:omniasr_audio", device="meta", num_hidden_layers=1)
    assert omni.source.input_size == (1, 16000)
    assert macs(omni, "subsampling.conv_layers.0.conv") == ((16000 - 10) // 5 + 1) * 1 * 512 * 10
    # Muse Spark: (samples,) padded to a multiple of its 16 x 6 x 5 x 4 = 1920 samples a token
    muse = profile_model("hf:muse_spark_audio", device="meta")
    samples = math.ceil(16000 / 1920) * 1920
    assert muse.source.input_size == (samples,)
    assert macs(muse, "layers.0.patch_embedder.proj") == samples // 16 * 16 * 256


def test_image_size_of_a_sub_config():
    # SAM 2 refuses anything but its backbone's 1024 x 1024; Hiera's patch embedding: a 7 x 7 conv, stride 4
    sam2 = profile_model("hf:sam2", device="meta")
    assert sam2.source.input_size == (3, 1024, 1024)
    assert macs(sam2, "vision_encoder.backbone.patch_embed.projection") == \
        (1024 // 4) ** 2 * 3 * 96 * 7 * 7
    # RF-DETR's windowed DINOv2: 518 rounded up to a multiple of 14 x 4 windows, 560 (its 40 x 40 patches)
    assert hf.image_size_of(hf.load_config("rf_detr")) == (3, 560, 560)


def test_text_towers_and_audio_beside_tokens():
    # text towers of vision families keep pixel_values as main_input_name: their tokens
    assert profile_model("hf:pp_formulanet_text", device="meta", num_hidden_layers=1).source.input_kind == "tokens"
    # CLVP's conditioning encoder reads a mel spectrogram beside the text: its mel_conv (kernel 1) over 80 bins
    clvp = profile_model("hf:clvp", device="meta")
    assert clvp.source.input_kind == "tokens" and clvp.inputs[1] == [1, 80, FEATURE_FRAMES]
    assert macs(clvp, "conditioning_encoder.mel_conv") == FEATURE_FRAMES * 80 * 1024 * 1
    # CLAP's audio tower: the spectrogram as a one-channel image (no fusion)
    clap = profile_model("hf:clap_audio_model", device="meta")
    assert clap.source.input_size == (1, FEATURE_FRAMES, 64) and not clap.coverage


def test_an_argument_named_like_a_tensor_kind_is_not_made_without_a_shape():
    # Mimi's decoder takes ``latents`` from its codec's quantizer; nothing here sizes them (its first layer is a
    # Linear, not VibeVoice's Conv1d over hidden_size latent channels): named, never a tensor of shape (1,)
    row = profile_row("hf", "mimi_decoder")
    assert row["status"] == "needs-inputs" and "latents" in row["error"], row


def test_perceivers_bare_model_takes_d_model_wide_embeddings():
    # PerceiverModel without a modality preprocessor reads `inputs` as T embeddings of d_model (768) features; its
    # cross-attention projects them to keys and values of kv channels (d_model by default): T x 768 x 768 each
    row = profile_row("hf", "perceiver")
    assert row["status"] == "ok" and row["input"] == "128x768", row
    p = profile_model("hf:perceiver")
    for name in ("key", "value"):
        assert p.layer(f"encoder.cross_attention.attention.self.{name}").counts()["linear"] == 128 * 768 * 768
