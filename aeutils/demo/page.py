"""The demo's outputs for people: a self-contained HTML page and labelled PNG panels.

Both read the demo's result structure (`aeutils.demo.jobs.run_demo`): per face, per job, a section
{"available", "note", "groups": [{"title", "items": [{"label", "image", "psnr", ...}]}]} whose
images are PNG files relative to the report folder. The HTML embeds them as data URIs, so
index.html alone can be mailed or opened anywhere.
"""
from __future__ import annotations

import base64
import html
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from aeutils.images import atomic_write_bytes, save_image

# Table columns: item key, header, format. A column is shown when any row of the table has it.
COLUMNS = [
    ("label", "method", None),
    ("setting", "setting", None),
    ("bytes", "bytes", "d"),
    ("bpp", "bpp", ".3f"),
    ("psnr", "PSNR (dB)", ".2f"),
    ("ssim", "SSIM", ".4f"),
    ("colorfulness", "colourfulness", ".1f"),
    ("encode_ms", "encode ms", ".1f"),
    ("decode_ms", "decode ms", ".1f"),
    ("cpu_ms", "time ms", ".1f"),
]
NUMERIC = {k for k, _, f in COLUMNS if f}
JOB_TITLES = {"compression": "Compression at the same file size", "repair": "Damage repair",
              "colorize": "Colorization", "upscale": "Super-resolution"}


def caption(item: dict) -> list[str]:
    """The lines under an image: its file size for coded images, and its PSNR."""
    lines = []
    if "bytes" in item:
        lines.append(f"{item['bytes']} B{'*' if item.get('over_budget') else ''}, {item['bpp']:.3f} bpp")
    if "psnr" in item:
        lines.append(f"{item['psnr']:.2f} dB")
    return lines


# ------------------------------------------------------------------------------------------ panels
def write_panel(section: dict, out: Path, name: str, pad: int = 6) -> str | None:
    """One PNG of a section: a row per group, every image at the original's height (small inputs
    enlarged with nearest neighbour, so pixels stay visible), label and numbers underneath.
    Returns its path relative to `out` (None for a section without images)."""
    if not section["groups"]:
        return None
    font = ImageFont.load_default(size=11)
    title_h, line_h = 18, 13
    rows = []
    for g in section["groups"]:
        ims = [Image.open(out / it["image"]).convert("RGB") for it in g["items"]]
        h = max(im.height for im in ims)
        ims = [im if im.height == h else im.resize((round(im.width * h / im.height), h), Image.NEAREST) for im in ims]
        texts = [[it["label"], *caption(it)] for it in g["items"]]
        widths = [max(im.width, *(round(font.getlength(t)) for t in lines)) for im, lines in zip(ims, texts)]
        row = Image.new("RGB", (sum(widths) + pad * (len(ims) + 1), title_h + h + 3 * line_h + 6), "white")
        draw = ImageDraw.Draw(row)
        draw.text((pad, 3), g["title"], fill="black", font=font)
        x = pad
        for im, lines, width in zip(ims, texts, widths):
            row.paste(im, (x, title_h))
            for i, t in enumerate(lines):
                draw.text((x, title_h + h + 3 + i * line_h), t, fill="black" if i == 0 else (70, 70, 70), font=font)
            x += width + pad
        rows.append(row)
    panel = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows)), "white")
    y = 0
    for r in rows:
        panel.paste(r, (0, y))
        y += r.height
    save_image(panel, out / name)
    return name


# -------------------------------------------------------------------------------------------- HTML
def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _cell(item: dict, key: str, fmt: str | None) -> str:
    if key not in item:
        return "<td></td>"
    v = item[key]
    text = html.escape(str(v)) if fmt is None else format(v, fmt)
    if key == "bytes" and item.get("over_budget"):
        text += "*"
    return f'<td class="{"num" if fmt else "txt"}">{text}</td>'


def table(items: list[dict]) -> str:
    rows = [it for it in items if NUMERIC & it.keys()]
    cols = [(k, h, f) for k, h, f in COLUMNS if any(k in it for it in rows)]
    head = "".join(f'<th class="{"num" if f else "txt"}">{html.escape(h)}</th>' for _, h, f in cols)
    body = "".join("<tr>" + "".join(_cell(it, k, f) for k, _, f in cols) + "</tr>" for it in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def figures(items: list[dict], out: Path, height: int) -> str:
    figs = []
    for it in items:
        figs.append(f'<figure><img src="{data_uri(out / it["image"])}" alt="{html.escape(it["label"])}" '
                    f'style="height:{height}px"><figcaption><b>{html.escape(it["label"])}</b><br>'
                    f'{"<br>".join(map(html.escape, caption(it)))}</figcaption></figure>')
    return '<div class="row">' + "".join(figs) + "</div>"


def section_html(job: str, sec: dict, out: Path, height: int) -> str:
    parts = [f'<section><h3>{JOB_TITLES[job]}</h3>']
    cls = "note" if sec["available"] else "note missing"
    parts.append(f'<p class="{cls}">{html.escape(sec["note"])}</p>')
    for g in sec["groups"]:
        parts.append(f'<h4>{html.escape(g["title"])}</h4>')
        parts.append(f'<div class="group">{figures(g["items"], out, height)}{table(g["items"])}</div>')
    return "".join(parts) + "</section>"


CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;max-width:1180px;
margin:0 auto;padding:16px 24px}
h1{margin:.2em 0}h2{margin-top:1.6em;border-bottom:2px solid #ddd;padding-bottom:4px}
h3{margin:1.2em 0 .3em}h4{margin:.9em 0 .3em;font-weight:600;color:#444}
.group{display:flex;flex-wrap:wrap;gap:6px 22px;align-items:flex-start}
.row{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-start}
figure{margin:0;text-align:center;font-size:12px}
figure img{display:block;image-rendering:pixelated;border:1px solid #ccc}
figcaption{margin-top:3px;white-space:nowrap}
table{border-collapse:collapse;margin:4px 0;font-size:13px}
th,td{padding:3px 10px;border-bottom:1px solid #e3e3e3}th{background:#f4f4f4}
.num{text-align:right;font-variant-numeric:tabular-nums}.txt{text-align:left}
.note{color:#555;margin:.2em 0}.missing{color:#a40000;font-weight:600}
.meta{color:#555}code{background:#f4f4f4;padding:0 3px}
"""


def write_html(results: dict, path: Path) -> None:
    """index.html: what ran, on which machine, then each face's four jobs: images side by side and
    their numbers."""
    out = Path(path).parent
    models = "".join(
        f"<tr><td class='txt'><code>{html.escape(n)}</code></td>"
        f"<td class='txt'>{'shipped' if m['shipped'] else '<span class=missing>not shipped</span>'}</td>"
        f"<td class='txt'>{f'weights/{html.escape(n)}.md' if m['card'] else 'no model card' if m['shipped'] else '-'}"
        "</td>"
        f"<td class='txt'>{'yes' if m['used'] else 'no'}</td></tr>"
        for n, m in results["models"].items())
    body = [
        "<h1>aeutils demo: autoencoders on faces</h1>",
        "<p>Each face is compressed with the project's learned face codec and with JPEG, JPEG 2000, WebP "
        "and AVIF at the same file size, repaired after synthetic damage, colorized from a grayscale copy, "
        "and enlarged from a downsampled copy, each beside a classical method.</p>",
        f"<p class='meta'>PSNR and SSIM (Gaussian window 11, sigma 1.5) of the 8-bit images against the "
        f"original; bpp from the size of the whole file (written next to this page); times are the median "
        f"of {results['repeats']} runs, CPU time of one thread. Machine: {html.escape(results['machine'])}. "
        f"The whole demo took {results['wall_s']:.0f} s wall ({results['cpu_s']:.0f} s CPU).</p>",
        f"<table><thead><tr><th class='txt'>model</th><th class='txt'>status</th><th class='txt'>model card"
        f"</th><th class='txt'>used here</th></tr></thead><tbody>{models}</tbody></table>",
    ]
    for f in results["faces"]:
        height = f["height"] * max(1, 200 // f["height"])  # small faces shown enlarged by a whole factor
        body.append(f"<h2>{html.escape(f['name'])} <small class='meta'>{f['width']}x{f['height']} px; "
                    f"{html.escape(f['source'])}</small></h2>")
        for job in JOB_TITLES:
            body.append(section_html(job, f[job], out, height))
    body.append("<p class='meta'>* the codec's smallest file is larger than the budget. The shipped models "
                "were trained on CelebA, which is for non-commercial research only; the weights inherit "
                "that restriction (see each model card).</p>")
    page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>aeutils demo</title>"
            f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>\n")
    atomic_write_bytes(path, page.encode("utf-8"))
