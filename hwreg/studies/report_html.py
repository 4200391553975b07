"""Markdown -> HTML for the reports, through markdown-it-py (CommonMark with its table rule).

The report is written once, as Markdown (``report.md``); ``report.html`` is that Markdown
rendered by markdown-it-py in one page template, so every table of the Markdown, including the
fragments other stages wrote (the sweep's ``table.md``), is a real ``<table>``. Images are
embedded as ``data:`` URIs (a self-contained file to mail) unless ``embed=False``; raw HTML in the
Markdown is not passed through.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt

MIME = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;line-height:1.45;color:#222}
h1{border-bottom:2px solid #444;padding-bottom:.2em}h2{margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:1em 0;font-size:13px;display:block;overflow-x:auto}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;white-space:nowrap}
th{background:#f2f2f2;white-space:normal;vertical-align:bottom}
tr:nth-child(even) td{background:#fafafa}
img{max-width:100%;height:auto;display:block;margin:1em auto 0}
p>em:only-child{display:block;color:#555;font-size:14px;margin-bottom:1.5em}
code{background:#f4f4f4;padding:0 3px}
"""


def markdown_renderer(base: Path | None = None, embed: bool = True) -> MarkdownIt:
    """A CommonMark renderer with tables; with ``embed``, image sources that name a file under
    ``base`` become ``data:`` URIs."""
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    if embed and base is not None:
        default = md.renderer.rules["image"]

        def image(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
            token = tokens[idx]
            src = str(token.attrGet("src") or "")
            path = base / src
            if ":" not in src and path.suffix.lower() in MIME and path.is_file():
                data = base64.b64encode(path.read_bytes()).decode()
                token.attrSet("src", f"data:{MIME[path.suffix.lower()]};base64,{data}")
            return default(tokens, idx, options, env)

        md.add_render_rule("image", image)
    return md


def markdown_to_html(text: str, title: str, base: Path | None = None,
                     embed: bool = True) -> str:
    """A whole HTML page: ``text`` (Markdown) rendered by markdown-it-py in the page template;
    images under ``base`` embedded when ``embed``."""
    body = markdown_renderer(base, embed).render(text)
    return (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style></head>\n"
            f"<body>\n{body}</body></html>\n")


def shift_headings(text: str, top: int) -> str:
    """Markdown ``text`` with its headings demoted so that the highest is level ``top`` (a
    fragment written as a document of its own, placed inside the report)."""
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    heads = [t for t in tokens if t.type == "heading_open" and t.map]
    if not heads:
        return text
    shift = max(0, top - min(int(t.tag[1]) for t in heads))
    lines = text.splitlines()
    for t in heads:
        line = t.map[0]
        if lines[line].lstrip().startswith("#"):  # ATX heading (the fragments use no others)
            lines[line] = "#" * shift + lines[line].lstrip()
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")
