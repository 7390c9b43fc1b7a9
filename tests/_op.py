"""A module whose forward is a given function: ops written inline in a test are charged to it (shared by the test
folders, as ``_toy``)."""
import torch.nn as nn


class Op(nn.Module):
    """A module whose forward is ``fn``: the op is charged to this (root) module."""

    def __init__(self, fn, *children: nn.Module):
        super().__init__()
        self.fn = fn
        self.kids = nn.ModuleList(children)  # registered, so that hooks see them

    def forward(self, *args):
        return self.fn(*args)
