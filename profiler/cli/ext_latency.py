"""``--latency``: measured inference latency of the model (per dtype and batch size) and of every layer.

Model latency comes from :func:`profiler.analysis.latency.measure_latency` (warm-up, eval, no_grad, CUDA synchronised,
median and inter-quartile range over ``--runs``), for each of ``--dtype`` x ``--batch-sizes``; per-layer
latency from :func:`profiler.analysis.layer_latency.measure_layer_latency` for the first dtype and batch size.
``--roofline FILE`` adds a roofline-style picture (MACs per byte against attained GMAC/s per layer).

Adds ``result["latency"] = {"model": [...], "layers": {...}}`` (milliseconds) and table sections.
The CPU is used unless CUDA is present (``--latency-device`` chooses).
"""
from __future__ import annotations

from profiler.cli.common import non_negative_int, output_file, positive_int


def add_arguments(parser) -> None:
    g = parser.add_argument_group("latency")
    g.add_argument("--latency", action="store_true",
                   help="measure model and per-layer latency (ms: median and IQR over --runs)")
    g.add_argument("--runs", type=positive_int, default=20, metavar="N", help="timed runs per measurement (default 20)")
    g.add_argument("--warmup", type=non_negative_int, default=5, metavar="N", help="untimed runs first (default 5)")
    g.add_argument("--dtype", default="fp32", metavar="LIST",
                   help="comma-separated dtypes: fp32, bf16, fp16 (default fp32)")
    g.add_argument("--batch-sizes", default=None, metavar="LIST",
                   help="comma-separated batch sizes for the model latency, e.g. 1,4,8 (default: --batch)")
    g.add_argument("--latency-device", default=None, metavar="DEV",
                   help="cpu or cuda[:N] (default: cuda when present, else cpu)")
    g.add_argument("--latency-top", type=positive_int, default=15, metavar="N",
                   help="layers listed in the per-layer latency table, slowest first (default 15)")
    g.add_argument("--roofline", type=output_file, default=None, metavar="FILE",
                   help="write a roofline-style picture from the measured per-layer latency (.png/.svg/.pdf)")


def _parse_list(text: str, what: str, conv):
    from profiler.errors import UsageError

    items = [t.strip() for t in str(text).split(",") if t.strip()]
    if not items:
        raise UsageError(f"--{what}: give a comma-separated list, got {text!r}")
    try:
        return [conv(t) for t in items]
    except (ValueError, TypeError) as exc:
        raise UsageError(f"--{what}: {exc}") from None


def _positive(t: str) -> int:
    n = int(t)
    if n < 1:
        raise ValueError(f"sizes must be >= 1, got {t!r}")
    return n


def apply(args, ctx) -> None:
    if not getattr(args, "latency", False):
        if getattr(args, "roofline", None):
            from profiler.errors import UsageError
            raise UsageError("--roofline needs --latency (it plots measured per-layer latency)")
        return
    import torch

    from profiler.errors import UsageError
    from profiler.analysis.latency import measure_latency, parse_dtype
    from profiler.analysis.layer_latency import measure_layer_latency
    from profiler.report.sections import latency_section, layer_latency_section

    dtypes = _parse_list(args.dtype, "dtype", lambda t: (t, parse_dtype(t)))
    shape = tuple(ctx.inputs.shape) if isinstance(ctx.inputs, torch.Tensor) else None
    if shape is None:
        raise UsageError("--latency needs a model that takes one input tensor")
    batches = _parse_list(args.batch_sizes, "batch-sizes", _positive) if args.batch_sizes else [shape[0]]
    device = args.latency_device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = ctx.real_model()

    rows = []
    for name, dt in dtypes:
        for b in batches:
            x = torch.randn((b, *shape[1:]))
            try:
                st = measure_latency(model, x, runs=args.runs, warmup=args.warmup, device=device, dtype=dt)
            except UsageError:
                raise
            except Exception as exc:  # noqa: BLE001 - e.g. fp16 kernels missing on this CPU: say so, go on
                msg = " ".join(str(exc).split())[:160]
                rows.append({"dtype": name, "batch": b, "error": f"{type(exc).__name__}: {msg}"})
                continue
            d = st.to_dict()
            d.pop("samples_ms", None)
            rows.append(d)
    from profiler.report.textfit import width_for

    ctx.sections.append(latency_section(rows, ctx.profile, runs=args.runs, warmup=args.warmup, batch=shape[0],
                                        width=width_for(args)))

    _, dt0 = dtypes[0]
    lat = measure_layer_latency(model, torch.randn(shape), runs=args.runs, warmup=args.warmup, device=device,
                                dtype=dt0)
    ctx.sections.append(layer_latency_section(lat, ctx.profile, args.latency_top, width=width_for(args)))
    ctx.result["latency"] = {"unit": "ms", "model": rows, "layers": lat.to_dict()}

    if args.roofline:
        from profiler.report.plots import save_figure
        from profiler.report.roofline import plot_roofline, roofline_points
        from profiler.analysis.traffic import traffic

        tr = traffic(ctx.profile)  # same input as the per-layer latency (first dtype, the profile's batch)
        fig = plot_roofline(tr, lat)
        save_figure(fig, args.roofline)
        ctx.result["roofline"] = {"path": str(args.roofline), "points": roofline_points(tr, lat)}
        ctx.messages.append(f"wrote {args.roofline} (MACs per byte against attained GMAC/s per layer, "
                            f"{lat.device}, {lat.dtype})")
