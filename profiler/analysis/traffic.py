"""Memory traffic per layer: bytes read, bytes written and arithmetic intensity (MACs per byte).

FLOPs alone do not predict speed (ShuffleNet v2's first guideline: equal channel widths minimise memory
access cost; element-wise ops and concatenations cost time and no MACs). This module reads what the engine
recorded for every op: ``bytes_read`` = the bytes of all its tensor arguments (activations *and* weights,
biases, running statistics), ``bytes_written`` = the bytes of its outputs. A layer's traffic is the sum over
its own ops, so a tensor read by two ops counts twice and nothing is assumed to stay in a cache: it is the
traffic of an unfused, cache-less execution, an upper bound on what reaches DRAM.

Units: bytes (B); intensity in MACs per byte (multiply-accumulates of conv/linear/attention/recurrent, no
bias, divided by bytes read + written); ``None`` where a layer moves no bytes. The table is
:func:`profiler.report.sections.traffic_table`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class LayerTraffic:
    path: str
    type: str
    kind: str
    macs: int  # own MACs (conv + linear + attention + recurrent, no bias)
    bytes_read: int  # B: tensor arguments of the layer's own ops (inputs + weights)
    bytes_written: int  # B: outputs of the layer's own ops
    first_call: int = -1

    @property
    def bytes_total(self) -> int:
        return self.bytes_read + self.bytes_written

    @property
    def intensity(self) -> float | None:
        """MACs per byte moved (None if no bytes)."""
        return self.macs / self.bytes_total if self.bytes_total else None

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(bytes_total=self.bytes_total, intensity=self.intensity)
        return d


@dataclass
class Traffic:
    model: str
    layers: list[LayerTraffic]  # layers with own ops, in execution order

    @property
    def bytes_read(self) -> int:
        return sum(t.bytes_read for t in self.layers)

    @property
    def bytes_written(self) -> int:
        return sum(t.bytes_written for t in self.layers)

    @property
    def bytes_total(self) -> int:
        return self.bytes_read + self.bytes_written

    @property
    def macs(self) -> int:
        return sum(t.macs for t in self.layers)

    @property
    def intensity(self) -> float | None:
        return self.macs / self.bytes_total if self.bytes_total else None

    def to_dict(self) -> dict:
        return {"model": self.model, "unit": "B", "intensity_unit": "MACs/B", "bytes_read": self.bytes_read,
                "bytes_written": self.bytes_written, "bytes_total": self.bytes_total, "macs": self.macs,
                "intensity": self.intensity, "layers": [t.to_dict() for t in self.layers]}


def layer_traffic(layer) -> LayerTraffic:
    """Traffic of one :class:`~profiler.core.profile.Layer`'s own ops."""
    return LayerTraffic(path=layer.path, type=layer.type, kind=layer.kind, macs=layer.macs,
                        bytes_read=sum(st.bytes_read for st in layer.ops.values()),
                        bytes_written=sum(st.bytes_written for st in layer.ops.values()),
                        first_call=getattr(layer, "first_call", -1))


def traffic(profile) -> Traffic:
    """Per-layer traffic of a :class:`~profiler.core.profile.Profile` (layers that ran ops, execution order)."""
    rows = [layer_traffic(layer) for layer in profile.layers if layer.ops]
    rows.sort(key=lambda t: (t.first_call < 0, t.first_call))
    return Traffic(model=profile.model, layers=rows)
