"""A training step's parts outside the observer: the default loss, named losses and optimizers, and the
step itself (forward, loss, backward, optimizer), run by :func:`profiler.core.engine.profile` with
``backward=True`` while its observer records each op in the phase ``state.phase`` names."""
from __future__ import annotations

import torch

from profiler.errors import UsageError


def sum_of_outputs(output) -> torch.Tensor:
    """The default loss of a training step: the sum of every floating-point tensor in the output."""
    total = None
    for t in _tensors(output):
        if t.is_floating_point():
            total = t.sum() if total is None else total + t.sum()
    if total is None:
        raise ValueError("the model's output has no floating-point tensor to take a loss of; pass loss=")
    return total


def _tensors(o):
    if isinstance(o, torch.Tensor):
        yield o
    elif isinstance(o, (list, tuple)):
        for x in o:
            yield from _tensors(x)
    elif isinstance(o, dict) or hasattr(o, "items"):
        for x in o.values():
            yield from _tensors(x)


_INFERENCE_MODE = ("torch.inference_mode() is on: it records no autograd graph, so a training step (backward=True) "
                   "cannot run; profile it outside the `with torch.inference_mode():` block (under torch.no_grad() "
                   "it runs)")


def check_can_step() -> None:
    """Refuse a training step before anything runs where autograd cannot record one: under
    ``torch.inference_mode()`` no tensor requires grad, and the step would fail with a misleading message."""
    if torch.is_inference_mode_enabled():
        raise UsageError(_INFERENCE_MODE)


def train_step(model, args, kwargs, state, loss, optimizer, params) -> None:
    """Forward, loss, backward and (optionally) one optimizer step, each op recorded in its phase."""
    output = model(*args, **kwargs)
    state.phase = "loss"
    value = loss(output) if loss is not None else sum_of_outputs(output)
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        raise ValueError(f"the loss must be a one-element tensor, got {type(value).__name__}"
                         f"{list(value.shape) if isinstance(value, torch.Tensor) else ''}")
    if not value.requires_grad:
        check_can_step()  # the cause under inference mode, said as such
        raise ValueError("nothing to differentiate: no parameter and no input of the model requires grad")
    state.phase = "backward"
    value.backward()
    if optimizer is not None:
        state.phase = "optimizer"
        trainable = [p for p in params if p.requires_grad and p.grad is not None]
        for p in trainable:  # the gradients are the parameters' too (their updates read them)
            state.param_owner[id(p.grad)] = state.param_owner[id(p)]
        if trainable:
            optimizer(trainable).step()


LOSSES = ("sum", "cross-entropy")
OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}


def loss_function(loss):
    """A loss callable from a name (``sum``: the engine's default; ``cross-entropy``: against random class
    indices, the classes on dim 1 of the output) or the callable itself."""
    if loss is None or callable(loss):
        return loss
    if loss == "sum":
        return None
    if loss == "cross-entropy":
        return _cross_entropy
    raise UsageError(f"unknown loss {loss!r}; choose one of: {', '.join(LOSSES)} (or pass a callable)")


def _cross_entropy(output):
    logits = output if isinstance(output, torch.Tensor) else next(iter(output.values())) \
        if isinstance(output, dict) else output[0]
    if logits.dim() < 2:
        raise UsageError(f"--loss cross-entropy needs class scores of shape (N, C, ...), got {list(logits.shape)}")
    target = torch.zeros((logits.shape[0], *logits.shape[2:]), dtype=torch.long, device=logits.device)
    return torch.nn.functional.cross_entropy(logits, target)


def optimizer_factory(optimizer):
    """An optimizer class from a name in :data:`OPTIMIZERS`, or what was given."""
    if optimizer is None or not isinstance(optimizer, str):
        return optimizer
    name = OPTIMIZERS.get(optimizer.lower())
    if name is None:
        raise UsageError(f"unknown optimizer {optimizer!r}; choose one of: {', '.join(OPTIMIZERS)}")
    return getattr(torch.optim, name)
