"""The self-contained HTML report of one evaluation: metrics with their intervals, per-class
sample grids, the samples closest to training images next to those images, and latent
interpolations. Images are embedded as base64 PNGs, so the file opens anywhere offline;
the same PNGs are written beside it for `dvc plots` and MLflow."""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path

import torch
from PIL import Image

from gig_core.atomic import atomic_file
from gig_core.evaluation.inputs import class_indices
from gig_core.layout import EvaluateOutputs
from gig_core.postprocess import postprocess_batch
from gig_core.sampling import grid_image, save_png

PER_ROW = 8
CELLS_SHOWN = 24  # cells whose samples and real photos the per-cell table shows inline

# row -> the metric whose *_ci_low/_ci_high it shows (None: no interval; the raw FID's belongs to the corrected one)
INTERVAL_OF = {"fid": None, "fid_bias_corrected": "fid", "kid_mean": "kid", "c2st_accuracy": "c2st",
               "c2st_floor": "c2st_floor"}
EXPLAINED = {
    "fid": "Frechet distance of feature statistics; lower is better (biased upwards at finite sample sizes)",
    "fid_bias_corrected": "FID with the bootstrap's estimate of its finite-sample bias removed; the interval is for "
    "this value",
    "kid_mean": "kernel distance (unbiased, about 0 for the same distribution); lower is better",
    "fid_floor": "FID of as many training photos against the same held-out photos: the real photos' own figure at "
                 "this N, what a perfect generator would score",
    "kid_floor": "KID of as many training photos against the held-out photos (the real floor), cut at 0",
    "fid_real_n": "held-out real images FID and KID compare against",
    "fid_generated_n": "generated images FID and KID are computed from",
    "fid_indistinguishable": "1 when the FID interval reaches 0: at this N the samples cannot be told from real "
                             "photos",
    "c2st_accuracy": "test accuracy of a small CNN trained to tell held-out real photos from the samples, both as "
                     "shown (post-processed, 96x128): 0.5 = it cannot, 1 = trivially fake (Lopez-Paz & Oquab 2017)",
    "c2st_indistinguishable": "1 when the C2ST interval holds 0.5: at this N the detector cannot tell the samples "
                              "from real photos (with few images, that may only mean too few to tell)",
    "c2st_floor": "the same for training photos at the model's resolution: how easily the resolution alone gives "
                  "an image away, the best a model of this size can score",
    "c2st_tested": "test images of the detector, real and generated together",
    "c2st_worst": "C2ST accuracy of the most detectable product type",
    "precision": "share of samples inside the real-image manifold (quality)",
    "recall": "share of real images inside the samples' manifold (variety)",
    "density": "real-image neighbourhoods each sample falls in; about 1 for real-like samples",
    "coverage": "share of real-image neighbourhoods holding a sample",
    "per_class_fid_worst": "FID of the worst class",
    "within_class_diversity": "spread of samples within one condition cell over that of the cell's real photos, "
                              "mean over cells (smaller of feature and pixel views); about 1 is real-like, near 0 "
                              "is one image per product type",
    "within_class_diversity_worst": "the same for the worst cell",
    "within_class_diversity_feature": "feature-space view of within_class_diversity, mean over cells",
    "within_class_diversity_pixel": "pixel-space view (16x16 thumbnails), mean over cells",
    "cell_recall": "share of a cell's real photos inside its samples' manifold, mean over cells",
    "cell_coverage": "share of a cell's real-photo neighbourhoods holding one of its samples, mean over cells",
    "within_class_cells": "condition cells scored",
    "z_sensitivity": "share of the samples' pixel spread that z alone produces (0: the generator ignores z)",
    "z_sensitivity_real": "the same share for real photos (spread within a cell over spread across cells)",
    "overall_spread": "pairwise feature spread of all samples over that of real images; class differences count, "
                      "so one image per class can score near 1 (see within_class_diversity)",
    "ms_ssim": "MS-SSIM of sample pairs asked for the same attributes; lower is more varied (compare ms_ssim_real)",
    "ms_ssim_real": "MS-SSIM of real pairs from one condition cell",
    "memorized_share": "share of samples that copy a training image: under the copy threshold, and much closer "
                       "to it than to its other near neighbours",
    "memorization_near_share": "share of samples under the copy threshold alone: copies, and samples in crowded "
                               "regions such as near-blank frames",
    "memorized_share_real": "the same share for held-out real images (what chance gives)",
    "memorization_flag": "1 when memorized_share exceeds evaluate.memorization_max_share",
    "memorization_threshold": "feature distance under which a sample counts as a copy",
    "blank_share": "share of samples that show nothing: one colour, within evaluate.min_pixel_range levels (never "
                   "counted as copies)",
    "kid_std": "standard deviation of KID over random subsets",
    "num_samples": "images scored",
    "cond_acc_": "share of samples the catalog classifier sees with the requested value of",
    "real_acc_": "the classifier's accuracy on held-out real images (the ceiling) for",
    "r_precision": "title models: share of samples whose own title the matching model ranks first among "
                   "r_precision_candidates titles of held-out products (chance: 1 / candidates)",
    "r_precision_real": "the same for the held-out real photos under their titles (the ceiling)",
    "r_precision_candidates": "titles each image is ranked among (its own and other products')",
    "title_acc_real_": "the same for the real photo of each title (the ceiling), for",
    "title_acc_": "title models: share of samples the catalog classifier names as their title says, among titles "
                  "that name",
    "title_named_": "held-out titles that name one value of",
}


def explain(name: str) -> str:
    for prefix in ("cond_acc_", "real_acc_", "title_acc_real_", "title_acc_", "title_named_"):
        if name.startswith(prefix):
            return f"{EXPLAINED[prefix]} {name[len(prefix):]}"
    return EXPLAINED.get(name, "")


def _png_data_uri(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def per_class_grid(
    images: torch.Tensor, rows: list[dict[str, str]] | None, attribute: str | None
) -> tuple[Image.Image, list[str]]:
    """Up to PER_ROW images of each class, one row per class (or one block of samples)."""
    if not attribute or not rows:
        return grid_image(images[: PER_ROW * PER_ROW], PER_ROW), []
    groups = class_indices(rows, attribute)
    names = sorted(groups)
    blank = torch.full_like(images[0], 255)
    cells = []
    for name in names:
        index = groups[name][:PER_ROW]
        cells += [images[i] for i in index] + [blank] * (PER_ROW - len(index))
    return grid_image(torch.stack(cells), PER_ROW), names


def nearest_pairs(fakes: torch.Tensor, train: torch.Tensor, pairs: list[tuple[int, int, float]]) -> Image.Image:
    """Top row: the samples closest to a training image; bottom row: that training image."""
    top = [fakes[f] for f, _, _ in pairs]
    bottom = [train[t] for _, t, _ in pairs]
    return grid_image(torch.stack(top + bottom), len(pairs))


def interpolations(
    bundle, rows: list[dict[str, str]], steps: int = PER_ROW, lines: int = 4, seed: int = 0
) -> Image.Image:
    """Each row walks the latent space between two random points (spherical interpolation)."""
    generator = torch.Generator().manual_seed(seed)
    a, b = (torch.randn(lines, bundle.arch.z_dim, generator=generator) for _ in range(2))  # (lines, z)
    omega = torch.acos((a / a.norm(dim=1, keepdim=True) * b / b.norm(dim=1, keepdim=True)).sum(1).clamp(-1, 1))[:, None]
    t = torch.linspace(0, 1, steps)[None, :, None]  # (1, steps, 1)
    z = (torch.sin((1 - t) * omega[:, None]) * a[:, None] + torch.sin(t * omega[:, None]) * b[:, None]) / torch.sin(
        omega[:, None]
    )
    z = z.reshape(lines * steps, -1)  # (lines * steps, z)
    labels = None
    if bundle.arch.conditional:
        picks = [rows[i * max(1, len(rows) // lines) % len(rows)] for i in range(lines)]
        labels = bundle.encode([p for p in picks for _ in range(steps)], unknown="random", seed=seed)
    return grid_image(bundle.from_latents(z, labels), steps)


def cell_rows(cell_images: dict[str, tuple[torch.Tensor, torch.Tensor]], names: list[str]) -> Image.Image:
    """One row per cell: PER_ROW samples, a blank, then PER_ROW real photos of the cell."""
    blank = torch.full_like(next(iter(cell_images.values()))[0][0], 255)
    pad = lambda images: [*images[:PER_ROW]] + [blank] * (PER_ROW - min(PER_ROW, len(images)))  # noqa: E731
    cells = []
    for name in names:
        fakes, reals = cell_images[name]
        cells += pad(fakes) + [blank] + pad(reals)
    return grid_image(torch.stack(cells), 2 * PER_ROW + 1)


def raw_and_postprocessed(bundle, rows: list[dict[str, str]], display, seed: int = 0,
                          height: int = 160) -> Image.Image:
    """PER_ROW samples as the model makes them (enlarged, top) and post-processed for display (bottom)."""
    picked = rows[:PER_ROW]
    labels = bundle.encode(picked, unknown="random", seed=seed) if bundle.arch.conditional else None
    raw = bundle.sample(len(picked), labels, seed=seed)  # (n, 3, R, R) uint8
    shown = postprocess_batch(raw, display, size=height)
    cell = max(height, max(p.width for p in shown))
    canvas = Image.new("RGB", (len(shown) * (cell + 4), 2 * (height + 4)), (200, 200, 200))
    for i, (square, picture) in enumerate(zip(raw, shown)):
        enlarged = Image.fromarray(square.permute(1, 2, 0).numpy()).resize((height, height), Image.Resampling.NEAREST)
        canvas.paste(enlarged, (i * (cell + 4) + (cell - height) // 2, 2))
        canvas.paste(picture, (i * (cell + 4) + (cell - picture.width) // 2, height + 6))
    return canvas


def title_rows(bundle, titles: list[str], real: torch.Tensor, lines: int = PER_ROW, seed: int = 0) -> tuple[
        Image.Image, list[str]]:
    """A title model's rows: for each of `lines` distinct held-out titles, PER_ROW samples that differ only in
    z, a blank, then the title's own real photo; returns the grid and the titles shown."""
    first = {}
    for i, title in enumerate(titles):
        if title and title not in first:
            first[title] = i
    shown = list(first)[:lines]
    labels = bundle.encode([{"title": t} for t in shown for _ in range(PER_ROW)], unknown="random")
    fakes = bundle.sample(len(shown) * PER_ROW, labels, seed=seed)  # (lines * PER_ROW, 3, R, R)
    blank = torch.full_like(fakes[0], 255)
    cells = []
    for row, title in enumerate(shown):
        cells += [*fakes[row * PER_ROW:(row + 1) * PER_ROW], blank, real[first[title]]]
    return grid_image(torch.stack(cells), PER_ROW + 2), shown


def notice_image() -> Image.Image:
    """A small blank placeholder for a figure that has nothing to show (its caption says why)."""
    return Image.new("RGB", (PER_ROW * 34 + 2, 34 + 2), "white")


def _cells_table(cells: dict[str, dict], cell_images: dict, shown: int) -> str:
    """Every scored cell, worst first; the first `shown` with their samples and real photos inline."""
    rows = []
    for i, (name, c) in enumerate(sorted(cells.items(), key=lambda kv: kv[1]["diversity"])):
        strip = (
            (
                f"<img class=strip src='{_png_data_uri(cell_rows(cell_images, [name]))}' alt='samples and real "
                f"photos of {html.escape(name)}'>"
            )
            if i < shown
            else ""
        )
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td class=num>{c['real']}</td><td class=num>{c['diversity']:.3f}</td>"
            f"<td class=num>{c['feature']:.3f}</td><td class=num>{c['pixel']:.3f}</td>"
            f"<td class=num>{c['recall']:.3f}</td><td class=num>{c['coverage']:.3f}</td><td>{strip}</td></tr>"
        )
    return (
        "<table id=cells><tr><th>cell</th><th>real photos</th><th>diversity</th><th>feature</th><th>pixel</th>"
        "<th>recall</th><th>coverage</th><th>samples | real photos</th></tr>" + "".join(rows) + "</table>"
    )


def _metrics_table(values: dict) -> str:
    body = []
    for name, value in values.items():
        if not isinstance(value, (int, float)) or name.endswith(("_ci_low", "_ci_high")):
            continue
        source = INTERVAL_OF.get(name, name)
        lo, hi = (values.get(f"{source}_ci_low"), values.get(f"{source}_ci_high")) if source else (None, None)
        interval = f"[{lo:.4g}, {hi:.4g}]" if lo is not None and hi is not None else ""
        shown = f"{value:.4g}" if isinstance(value, float) and math.isfinite(value) else html.escape(str(value))
        meaning = explain(name)
        if name == "within_class_diversity_worst":
            meaning += f": {values.get('within_class_diversity_worst_cell', '')}"
        body.append(
            f"<tr><td>{html.escape(name)}</td><td class=num>{shown}</td><td class=num>{interval}</td>"
            f"<td>{html.escape(meaning)}</td></tr>"
        )
    return (
        "<table id=metrics><tr><th>metric</th><th>value</th><th>interval</th><th>meaning</th></tr>"
        + "".join(body)
        + "</table>"
    )


def _per_class_table(scores: dict, skipped: dict) -> str:
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td class=num>{v:.4g}</td></tr>" for k, v in sorted(scores.items()))
    note = ""
    if skipped:
        note = (
            "<p>Too few images for a per-class FID: "
            + ", ".join(
                f"{html.escape(k)} ({v['real']} real, {v['generated']} generated)" for k, v in sorted(skipped.items())
            )
            + "</p>"
        )
    table = f"<table id=per-class><tr><th>class</th><th>FID</th></tr>{rows}</table>" if rows else ""
    return table + note


def write_report(evaluation, reference, out_dir: str | Path) -> Path:
    """report.html plus its figures as PNGs under report/; returns the HTML path."""
    out = Path(out_dir)
    inputs, values, details = evaluation.inputs, evaluation.result.values, evaluation.result.details
    attribute = inputs.class_attribute
    figures: dict[str, tuple[str, Image.Image]] = {}
    samples_grid, classes = per_class_grid(inputs.fake_images, inputs.fake_rows, attribute)
    figures["samples"] = (
        "Samples" + (f", one row per {attribute}: {', '.join(classes)}" if classes else ""),
        samples_grid,
    )
    real_grid, real_classes = per_class_grid(
        inputs.real_images, inputs.real_rows if classes else None, attribute if classes else None
    )
    figures["real"] = (
        "Held-out real images" + (f", one row per {attribute}: {', '.join(real_classes)}" if real_classes else ""),
        real_grid,
    )
    if details.get("closest_pairs"):
        pairs = details["closest_pairs"]
        figures["nearest_pairs"] = (
            "Samples closest to a training image (top) and that image (bottom); distances "
            + ", ".join(f"{d:.3g}" for _, _, d in pairs)
            + f" (copy threshold {values['memorization_threshold']:.3g})",
            nearest_pairs(inputs.fake_images, reference.train_split().images, pairs),
        )
    elif "memorized_share" in values:  # every sample blank; the figure is a DVC plot: always written
        figures["nearest_pairs"] = ("Every sample is blank (one colour): none to set beside a training image",
                                    notice_image())
    if details.get("cells"):
        worst = sorted(details["cells"], key=lambda name: details["cells"][name]["diversity"])[:PER_ROW]
        figures["within_class"] = (
            f"Within-class diversity, the {len(worst)} worst condition cells (one per row: {', '.join(worst)}): "
            f"{PER_ROW} samples that differ only in z, then {PER_ROW} real photos of the cell",
            cell_rows(details["cell_images"], worst),
        )
    elif values.get("within_class_cells") == 0:  # the figure is a DVC plot: always written, saying why it is empty
        figures["within_class"] = (
            f"No condition cell has evaluate.min_cell_images ({inputs.config.min_cell_images}) "
            f"real photos: within-class diversity was not measured",
            notice_image(),
        )
    if details.get("realism") is not None and inputs.fake_display is not None:
        order = details["realism"].argsort(descending=True)
        best, worst = order[:PER_ROW], order.flip(0)[:PER_ROW]
        figures["realism"] = (
            f"As a shop shows them: the {PER_ROW} samples the trained detector finds most real (top; P(real) "
            + ", ".join(f"{details['realism'][i]:.2f}" for i in best) + f"), the {PER_ROW} it finds least real "
            f"(middle; " + ", ".join(f"{details['realism'][i]:.2f}" for i in worst) + "), and held-out photos "
            f"(bottom). C2ST accuracy {values['c2st_accuracy']:.3f}",
            grid_image(torch.cat([inputs.fake_display[best], inputs.fake_display[worst],
                                  inputs.real_display[:PER_ROW]]), PER_ROW),
        )
    bundle = evaluation.source.bundle
    if bundle is not None and bundle.arch.titled and any(reference.titles):
        grid, shown = title_rows(bundle, reference.titles, inputs.real_images, seed=inputs.config.seed)
        figures["titles"] = (
            f"From words: one held-out title per row ({'; '.join(shown)}): {PER_ROW} samples that differ only in z, "
            f"then the product's own photo",
            grid,
        )
    if bundle is not None:
        asked, display = reference.asked_rows(bundle), reference.display
        figures["postprocess"] = (
            f"Raw samples (top, enlarged) and the same samples post-processed for display (bottom): background "
            f"snapped to white, cropped to the product with a {display.margin:.0%} margin, padded to "
            f"{display.aspect[0]}:{display.aspect[1]}, Lanczos-resized{', median-denoised' if display.denoise else ''}",
            raw_and_postprocessed(bundle, asked, display, seed=inputs.config.seed),
        )
        figures["interpolations"] = (
            "Latent interpolations: each row walks between two random latents",
            interpolations(bundle, asked, seed=inputs.config.seed),
        )
    sections = []
    for key, (caption, image) in figures.items():
        save_png(image, EvaluateOutputs(out).figures / f"{key}.png")
        sections.append(
            f"<figure id={key}><img src='{_png_data_uri(image)}' alt='{html.escape(key)}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    cells = ""
    if details.get("cells"):
        cells = (
            f"<h2>Within-class diversity per condition cell</h2><p>{values['within_class_cells']} cells with at "
            f"least {inputs.config.min_cell_images} real photos, worst first; {inputs.config.cell_samples} samples "
            f"each, differing only in z. Diversity is the smaller of the feature and pixel ratios (samples' spread "
            f"over the real photos' spread); about 1 is real-like.</p>"
            + _cells_table(details["cells"], details["cell_images"], shown=CELLS_SHOWN)
        )
    per_class = (
        _per_class_table(values.get("per_class_fid", {}), details.get("per_class_skipped", {}))
        if "per_class_fid" in values
        else ""
    )
    attribute = html.escape(details.get("per_class_attribute", ""))
    per_class_section = f"<h2>Per-class FID ({attribute})</h2>{per_class}" if per_class else ""
    if values.get("c2st_per_class"):
        rows = "".join(f"<tr><td>{html.escape(c)}</td><td class=num>{a:.3f}</td></tr>" for c, a in
                       sorted(values["c2st_per_class"].items(), key=lambda item: -item[1]))
        per_class_section += (f"<h2>C2ST accuracy per {attribute or 'class'}</h2><p>Which product types give "
                              f"themselves away: the detector's accuracy on each type's real and generated test "
                              f"images (0.5: indistinguishable).</p><table id=c2st-per-class><tr><th>class</th>"
                              f"<th>C2ST accuracy</th></tr>{rows}</table>")
    page = f"""<!doctype html>
<html lang=en><head><meta charset=utf-8><title>GIG evaluation</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }} td, th {{ border: 1px solid #ccc; padding: 4px 8px; }}
.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
img {{ image-rendering: pixelated; width: 640px; }} figure {{ margin: 1.5em 0; }}
img.strip {{ width: 480px; }}
</style></head><body>
<h1>GIG evaluation</h1>
<p>Scored: <b>{html.escape(evaluation.source.name)}</b>, {values.get("num_samples")} samples against
{len(inputs.real)} held-out real images (catalog {html.escape(str(values.get("reference_fingerprint", ""))[:12])}),
features: {html.escape(inputs.config.feature_extractor)} (conditional accuracy, within-class diversity and
memorization: the catalog classifier). FID and KID come with the real photos' own floor at the same N. Intervals:
{inputs.config.confidence:.0%} bootstrap, {inputs.config.bootstrap_draws} draws, for the population value: FID's is
corrected for its small-sample bias, so it can sit below the raw estimate, and it is cut at 0 (a squared distance):
an interval that reaches 0 means the samples cannot be told from real photos at this N. C2ST's is a Wilson
interval over the detector's test images.</p>
<h2>Metrics</h2>{_metrics_table(values)}
{cells}
{per_class_section}
<h2>Figures</h2>{"".join(sections)}
</body></html>
"""
    path = EvaluateOutputs(out).report
    with atomic_file(path, "w") as handle:
        handle.write(page)
    return path
