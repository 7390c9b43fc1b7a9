"""The result of profiling: plain data, no formatting.

A :class:`Profile` holds one :class:`Layer` per module (in ``named_modules`` order, the root first).
Each layer keeps its *own* ops (those run while it was the innermost running module) as raw counts per
(op, category); totals under a convention are computed from those on demand, so one pass serves every
convention. Raw counts are MACs for conv/linear/attention/recurrent and element ops for the other
categories. ``Profile.macs`` and ``Layer.macs`` always mean MACs; ``total(convention)`` is a convention's figure.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from profiler.conventions import Convention, get_convention
from profiler.counters import CATEGORIES, MAC_CATEGORIES


@dataclass
class OpStat:
    """One aten op inside one layer, summed over its calls."""
    calls: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # category -> MACs or element ops
    bytes_read: int = 0  # bytes of the tensor inputs
    bytes_written: int = 0  # bytes of the tensor outputs


@dataclass
class Layer:
    path: str  # "" for the root module
    type: str  # class name
    kind: str  # one of profiler.core.kinds.KINDS
    depth: int  # 0 for the root
    calls: int = 0
    input_shapes: list = field(default_factory=list)  # of the first call
    output_shapes: list = field(default_factory=list)
    config: dict = field(default_factory=dict)  # kernel/stride/groups ...
    params: int = 0  # parameters this module owns directly (each tensor counted once model-wide)
    params_trainable: int = 0
    buffers: int = 0  # buffer elements owned directly
    ops: dict[str, OpStat] = field(default_factory=dict)  # own forward ops: "aten.name" -> OpStat
    children: list[str] = field(default_factory=list)
    first_call: int = -1  # rank of the first call in execution order (0 = first module run; -1 = never run)
    # Ops of the other phases of a training step ("loss", "backward", "recompute", "optimizer"), as ``ops``.
    step_ops: dict[str, dict[str, OpStat]] = field(default_factory=dict)
    # Mixture of experts (profiler.core.moe): (own parameters that belong to routed experts, k, E) when a
    # token is routed to k of the E experts those parameters are part of; None for every other layer.
    routed: tuple[int, int, int] | None = None
    # Token-expert pairs each of the E experts received, summed over the layer's forward calls (their sum is
    # tokens x k per call): data of a real pass, read from its grouped matmuls' offsets; empty on meta.
    expert_tokens: list[int] = field(default_factory=list)
    # A distributed pass (DTensor parameters or ops; profiler.core.distributed): ``ops``/``step_ops``/``params``
    # are this rank's (the local shards' kernels and elements), these the logical model's: phase -> own ops of
    # the DTensor-level calls, and the own parameters' global elements. None: the same as this rank's.
    global_ops: dict[str, dict[str, OpStat]] | None = None
    params_global: int | None = None

    @property
    def name(self) -> str:
        return self.path or "(root)"

    @property
    def params_inactive(self) -> float:
        """Own parameters one token's forward does not use: (E - k) / E of those of routed experts (a fraction
        of a parameter for one expert's layer of a ModuleList; the E experts of a layer add up to a whole)."""
        if self.routed is None:
            return 0
        n, k, e = self.routed
        return n * (e - k) // e if n * (e - k) % e == 0 else n * (e - k) / e

    @property
    def params_active(self) -> float:
        """Own parameters one token's forward uses: all of them, routed experts' at k/E."""
        return self.params - self.params_inactive

    def phase_ops(self) -> dict[str, dict[str, OpStat]]:
        """phase -> own ops of that phase; ``forward`` first (the only phase of a forward-only profile)."""
        return {"forward": self.ops, **self.step_ops}

    def _op_stats(self, phase: str | None):
        if phase is None and not self.step_ops:
            return self.ops.items()  # a forward-only profile: no per-phase walk
        if phase is None:
            return [item for ops in self.phase_ops().values() for item in ops.items()]
        return self.phase_ops().get(phase, {}).items()

    def counts(self, phase: str | None = None) -> dict[str, int]:
        """Own raw counts per category (MACs or element ops), of every phase or of ``phase``. Sub-counts that
        rules add for the peer conventions (``norm.affine`` ...: a part of their category, named
        ``category.detail``) stay in the op stats and are not listed here."""
        out: dict[str, int] = {}
        for _, st in self._op_stats(phase):
            for c, n in st.counts.items():
                if "." not in c:
                    out[c] = out.get(c, 0) + n
        return out

    @property
    def phases(self) -> dict[str, dict[str, int]]:
        """phase -> own raw counts per category, for the phases this layer ran ops in (``forward`` always)."""
        return {phase: self.counts(phase) for phase in self.phase_ops()}

    def cost(self, convention: Convention | str, phase: str | None = None) -> float:
        """Own cost under ``convention``, of every phase or of ``phase``."""
        conv = get_convention(convention)
        return sum(conv.cost(self, op, c, n) for op, st in self._op_stats(phase) for c, n in st.counts.items())

    @property
    def macs(self) -> int:
        """Own multiply-accumulates (conv + linear + attention + recurrent, no bias), every phase."""
        counts = self.counts()
        return sum(counts.get(c, 0) for c in MAC_CATEGORIES)


@dataclass
class CommStat:
    """One kind of collective one module ran in one phase, summed over its calls, as this rank sees it: bytes
    under the ring / pipeline conventions of :mod:`profiler.counters.comm`."""
    path: str  # the module ("" for the root)
    phase: str  # forward, loss, backward, recompute, optimizer
    kind: str  # profiler.counters.comm.KINDS: all_reduce, all_gather, reduce_scatter, all_to_all, broadcast ...
    group_size: int  # ranks in the collective's process group
    calls: int = 0
    bytes: int = 0  # the collectives' size S (comm's convention: an all_gather's output, a reduce_scatter's input)
    sent: int | float = 0  # bytes this rank sends
    received: int | float = 0  # bytes this rank receives
    ops: list[str] = field(default_factory=list)  # the ops met: _c10d_functional.all_reduce, c10d.allreduce_ ...


@dataclass
class Distributed:
    """What a distributed pass adds to a :class:`Profile`: who this rank is, the logical model's parameters and
    the communication of the step. The logical model's compute is per layer (``Layer.global_ops``); the
    profile's own figures (``macs``, ``params``, every table) are this rank's."""
    rank: int  # this process's rank in the default group (0 where none is initialised)
    world_size: int
    params_global_trainable: int  # the logical model's parameters (DTensor parameters at their global shape)
    params_global_frozen: int
    communication: list[CommStat] = field(default_factory=list)  # per module, phase and kind, in module order
    dtensor: bool = False  # DTensors met (parameters, inputs or ops): the global figures may differ from the local


@dataclass
class UncoveredOp:
    """An op met during the pass that has no counting rule (its cost is unknown, not zero)."""
    op: str
    calls: int
    modules: list[str]
    error: str = ""  # set when a rule exists but failed on these arguments


#: Input kinds whose ``Source.input_size`` is ``(tokens,)``: token ids, tokens plus an image (CLIP, SigLIP), log-mel
#: features plus decoder tokens (Whisper). The zoo makes them (:func:`profiler.zoo.inputs.text_inputs`).
TOKEN_KINDS = ("tokens", "text-image", "speech-text")


@dataclass
class Source:
    """Where a profiled model came from, as :func:`profiler.zoo.profile_model` resolved and built it."""
    zoo: str  # builtin | timm | torchvision | pytorchcv | hf | user | module (an nn.Module handed in)
    name: str  # the name within its zoo (a user's ``path.py:factory``; a module's class name)
    input_size: tuple  # one sample's input shape, no batch dimension: (C, H, W), (C, T, H, W) ...; tokens: (T,)
    batch: int = 1
    build: str = "cpu"  # meta | meta-params | cpu: how the module was constructed (profiler.zoo.build.BUILDS)
    device: str = "auto"  # the device asked for: auto | meta | cpu | cuda[:N]
    kwargs: dict = field(default_factory=dict)  # constructor arguments (an hf: model's config fields)
    input_kind: str = "tensor"  # "tokens": a language model fed input_ids of (batch, input_size[0])
    task: str | None = None  # the head of an hf: model (base, causal-lm, masked-lm, seq2seq-lm, classification)
    # a bare name other zoos have too: the specs that build theirs ("torchvision:resnet50" beside timm's)
    also: list = field(default_factory=list)

    @property
    def spec(self) -> str:
        """What to pass to :func:`profiler.zoo.create` to build the same architecture again."""
        return self.name if self.zoo == "user" else f"{self.zoo}:{self.name}"


@dataclass
class Profile:
    model: str
    inputs: list  # input shapes
    convention: str
    layers: list[Layer]
    coverage: list[UncoveredOp]
    params_trainable: int
    params_frozen: int
    buffers: int
    device: str = "cpu"  # where the pass ran ("meta" = shapes only; "fake": shapes on fake CPU tensors)
    notes: list[str] = field(default_factory=list)
    source: Source | None = None  # set when the model was built by name (profiler.zoo.profile_model)
    # The phases this profile ran: ["forward"], or a training step's "forward", "loss", "backward" and
    # (with an optimizer) "optimizer"; a backward that recomputed checkpointed modules also ran "recompute".
    phases: list[str] = field(default_factory=lambda: ["forward"])
    # A pass that met DTensors or collectives (profiler.core.distributed); None for every other model.
    distributed: Distributed | None = None

    def __post_init__(self):
        self._by_path = {layer.path: layer for layer in self.layers}

    # -- totals -----------------------------------------------------------------------------------
    @property
    def params(self) -> int:
        """Unique parameters (shared/tied tensors once), trainable + frozen."""
        return self.params_trainable + self.params_frozen

    @property
    def params_active(self) -> int:
        """Parameters one token's forward pass uses: :attr:`params` less the unrouted share (E - k) / E of
        every layer of routed experts (embeddings, routers and shared experts count in full, as in the
        figures MoE model cards publish); equal to :attr:`params` for a dense model."""
        return self.params - int(round(sum(layer.params_inactive for layer in self.layers)))

    @property
    def is_moe(self) -> bool:
        """Some layer holds routed experts (a mixture of experts)."""
        return any(layer.routed is not None for layer in self.layers)

    @property
    def macs(self) -> int:
        """Multiply-accumulates of conv + linear + attention + recurrent, bias not counted, whatever the
        profile's convention (that one's figure is :meth:`total`)."""
        cats = self.by_category
        return sum(cats[c] for c in MAC_CATEGORIES)

    # -- distributed: this rank's figures (the ones above) and the logical model's ------------------------
    @property
    def is_sharded(self) -> bool:
        """The pass met DTensors whose global figures differ from this rank's (:meth:`global_view`)."""
        d = self.distributed
        if d is None or not d.dtensor:
            return False
        return self.params_global != self.params or self.global_view().by_category != self.by_category

    @property
    def params_global(self) -> int:
        """The logical model's parameters: DTensor parameters at their global shape (:attr:`params`: this
        rank's shards)."""
        d = self.distributed
        return self.params if d is None else d.params_global_trainable + d.params_global_frozen

    @property
    def macs_global(self) -> int:
        """The logical model's MACs: the DTensor-level ops (as the unsharded model computes), where
        :attr:`macs` is this rank's own (the local shards' kernels)."""
        return self.macs if self.distributed is None else self.global_view().macs

    def total_global(self, convention: Convention | str | None = None) -> int:
        """:meth:`total` of the logical model (:meth:`global_view`)."""
        return self.global_view().total(convention)

    @property
    def communication(self) -> list[CommStat]:
        """The collectives of the pass per module, phase and kind (bytes under the conventions of
        :mod:`profiler.counters.comm`); empty for a model that ran none."""
        return [] if self.distributed is None else self.distributed.communication

    def global_view(self) -> "Profile":
        """This profile as the logical model counts: each layer's DTensor-level ops and global parameters in
        place of this rank's, every view of it (``table()``, ``to_dict()`` ...) showing the global figures; the
        profile itself where the pass met no DTensor."""
        d = self.distributed
        if d is None or not d.dtensor:
            return self
        from dataclasses import replace

        layers = []
        for layer in self.layers:
            g = layer.global_ops if layer.global_ops is not None else layer.phase_ops()
            params = layer.params if layer.params_global is None else layer.params_global
            trainable = layer.params_trainable + (params - layer.params if layer.params_trainable else 0)
            layers.append(replace(layer, ops=g.get("forward", {}),
                                  step_ops={k: v for k, v in g.items() if k != "forward"},
                                  params=params, params_trainable=trainable, global_ops=None, params_global=None))
        view = replace(self, layers=layers, params_trainable=d.params_global_trainable,
                       params_frozen=d.params_global_frozen, distributed=None, notes=list(self.notes))
        if hasattr(self, "elapsed_s"):
            view.elapsed_s = self.elapsed_s
        return view

    @property
    def pass_kind(self) -> str:
        """Which pass counted: ``shapes`` (on meta, or on fake tensors (``device == "fake"``, a simulated rank of a
        sharded model): nothing computed, the counts exact from shapes) or ``real`` (kernels run on random inputs
        on :attr:`device`)."""
        return "shapes" if self.device in ("meta", "fake") else "real"

    @property
    def is_step(self) -> bool:
        """A training step (forward, loss, backward ...) rather than one forward pass."""
        return self.phases != ["forward"]

    @property
    def by_phase(self) -> dict[str, int]:
        """Total per phase under the profile's convention: forward, loss, backward (recomputed forward
        included, see :attr:`recomputed`) and optimizer; the phases add up to :meth:`total`."""
        conv = get_convention(self.convention)
        out = {"forward": 0.0, "loss": 0.0, "backward": 0.0, "optimizer": 0.0}
        for layer in self.layers:
            for phase in layer.phase_ops():
                key = "backward" if phase == "recompute" else phase
                out[key] = out.get(key, 0.0) + layer.cost(conv, phase)
        return {k: int(round(v)) for k, v in out.items()}

    @property
    def recomputed(self) -> int:
        """The part of the backward phase that re-ran checkpointed forwards, under the profile's convention."""
        conv = get_convention(self.convention)
        return int(round(sum(layer.cost(conv, "recompute") for layer in self.layers)))

    def total(self, convention: Convention | str | None = None) -> int:
        """The total under ``convention`` (default: the profile's own), in that convention's :attr:`unit`."""
        conv = get_convention(convention or self.convention)
        return int(round(sum(layer.cost(conv) for layer in self.layers)))

    @property
    def unit(self) -> str:
        """Unit of :meth:`total` under the profile's convention (MACs, FLOPs, ops ...)."""
        return get_convention(self.convention).unit

    @property
    def by_category(self) -> dict[str, int]:
        """Raw totals per category (MACs or element ops), every category present."""
        out = {c: 0 for c in CATEGORIES}
        for layer in self.layers:
            for c, n in layer.counts().items():
                out[c] = out.get(c, 0) + n
        return out

    def by_op(self) -> dict[str, dict[str, int]]:
        """Raw totals per aten op and category."""
        out: dict[str, dict[str, int]] = {}
        for layer in self.layers:
            for op, st in layer.ops.items():
                d = out.setdefault(op, {})
                for c, n in st.counts.items():
                    d[c] = d.get(c, 0) + n
        return out

    # -- tree -------------------------------------------------------------------------------------
    def layer(self, path: str) -> Layer:
        return self._by_path[path]

    def subtree(self, path: str):
        """The layer at ``path`` and all its descendants."""
        stack = [self._by_path[path]]
        while stack:
            layer = stack.pop()
            yield layer
            stack.extend(self._by_path[c] for c in reversed(layer.children))

    def inclusive_cost(self, path: str, convention: Convention | str | None = None) -> int:
        conv = get_convention(convention or self.convention)
        return int(round(sum(layer.cost(conv) for layer in self.subtree(path))))

    def inclusive_params(self, path: str) -> int:
        return sum(layer.params for layer in self.subtree(path))

    def leaves(self) -> list[Layer]:
        return [layer for layer in self.layers if not layer.children]

    def by_kind(self, convention: Convention | str | None = None) -> dict[str, dict[str, int]]:
        """Own cost and parameters summed per layer kind (every layer's own share, so sums are totals)."""
        from profiler.core.kinds import KINDS

        conv = get_convention(convention or self.convention)
        out = {k: {"macs": 0, "params": 0} for k in KINDS}
        for layer in self.layers:
            d = out.setdefault(layer.kind, {"macs": 0, "params": 0})
            d["macs"] += layer.cost(conv)
            d["params"] += layer.params
        return {k: {"macs": int(round(v["macs"])), "params": v["params"]} for k, v in out.items()}

    # -- export -----------------------------------------------------------------------------------
    def to_dict(self, depth: int | None = None, top: int | None = None) -> dict[str, Any]:
        """The JSON document ``profile-model --format json`` writes (see :mod:`profiler.core.document`);
        ``depth``/``top`` fold the per-layer records as the tables do."""
        from profiler.core.document import document

        return document(self, depth=depth, top=top)

    # -- views (formatting lives in profiler.report; these only delegate) -----------------------------
    def _repr_html_(self) -> str:
        """The report as HTML for a Jupyter cell: the collapsible module tree of ``--output x.html``, without
        the document wrapper, its CSS scoped to ``.profiler-report`` (profiler.report.html)."""
        from profiler.report import to_html

        return to_html(self, standalone=False)

    def to_dataframe(self, depth: int | None = None, top: int | None = None):
        """One row per module (own and inclusive params/cost, shares, shapes) as a pandas DataFrame;
        raises ImportError with the fix when pandas is not installed."""
        from profiler.report import to_dataframe

        return to_dataframe(self, depth=depth, top=top)

    def table(self, depth: int | str | None = None, width: int | None = None, legend: bool = False) -> str:
        """The per-layer table as ``profile-model`` prints it, for ``print(p.table())``: the header, one row per
        module (its own params and cost, a container's subtree total in brackets), the totals and a short
        footer, every line at most ``width`` columns (short headers, the least needed columns left out).

        depth: None = the deepest depth that keeps the table to about 60 rows, an int folds deeper modules
        into their depth-N ancestor, ``"all"`` shows every module. width: None = the terminal's columns
        (:func:`profiler.report.page.terminal_width`: 120 in Jupyter or where unknown, 40 to 200).
        legend: the full legend of every column and cell instead of its one-line key.
        """
        from profiler.report.page import render, terminal_width

        view_depth = "auto" if depth is None else (None if depth == "all" else depth)
        return render(self, "table", depth=view_depth, width=width or terminal_width(), legend=legend)

    def summary(self, width: int | None = None) -> str:
        """The torchsummary-style view (``profile-model --summary``) for ``print(p.summary())``: every executed
        module but the root and plain containers with its output shape, params and cost, then torchsummary's
        sizes in MB (2^20 bytes, float32); header and footer wrapped to ``width`` columns (None: as
        :meth:`table`)."""
        from profiler.report.page import render, terminal_width

        return render(self, "table", summary=True, width=width or terminal_width())

    def __repr__(self) -> str:
        """One line (``print(p)`` too): model, total with unit and convention, params, modules, coverage; the
        per-layer table is ``print(p.table())``, the torchsummary view ``print(p.summary())``."""
        if self.is_sharded:  # a DTensor model: this rank's figures, then the logical model's
            figures = (f"{self.total():,} {self.unit} [{self.convention}] this rank, {self.total_global():,} global, "
                       f"{self.params:,} params this rank, {self.params_global:,} global")
        else:
            figures = f"{self.total():,} {self.unit} [{self.convention}], {self.params:,} params"
        return f"Profile({self.model}: {figures}, {len(self.layers)} modules, {len(self.coverage)} uncovered ops)"
