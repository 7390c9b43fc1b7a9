"""The names the command line's options offer (``choices=`` and help text), importable without torch.

Building a parser runs on every ``--help`` and every ``profile-model list``: the modules these names live in
(``profiler.zoo``, ``profiler.report``, ``profiler.core.step``, ``profiler.crosscheck.core``) import torch,
which alone takes a second or more. So the parsers read copies; tests/cli/test_startup.py fails when a copy
differs from the library's own, naming both.
"""
from __future__ import annotations

#: profiler.zoo.names.ZOOS: the zoos, in the order unqualified names resolve
ZOOS = ("builtin", "timm", "torchvision", "pytorchcv", "hf")
#: profiler.zoo.hf.TASKS: the heads of a Hugging Face model
TASKS = ("base", "causal-lm", "masked-lm", "seq2seq-lm", "classification")
#: profiler.core.step.LOSSES
LOSSES = ("sum", "cross-entropy")
#: the keys of profiler.core.step.OPTIMIZERS, in its order
OPTIMIZERS = ("sgd", "adam", "adamw")
#: profiler.report.FORMATS and GROUPINGS (profiler.report.page)
FORMATS = ("table", "markdown", "csv", "json", "html", "tree")
GROUPINGS = ("layer", "kind", "type")
#: profiler.crosscheck.TOOLS: the peer tools, in the order they run
TOOLS = ("ptflops", "ptflops_aten", "fvcore", "torch", "thop", "torchinfo", "torchsummary")
#: profiler.cli.ext_crosscheck: --crosscheck names that are no peer tool (the frameworks' FLOPs formulas)
FORMULA_CHECKS = ("formulas",)
#: the keys of profiler.analysis.mfu.ACCELERATORS (--accelerator)
ACCELERATORS = ("h100-sxm", "h100-pcie", "h200", "a100", "b200", "mi300x", "tpu-v5e", "tpu-v5p", "l4")
