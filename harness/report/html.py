"""tables/index.html: every table and figure of `bench report` on one self-contained page.

Nothing is fetched from the network: the style and the script are inline and the figures are the
PNGs beside the page (relative links). Each row says where its numbers come from on hover (the
records behind it, or the published entry), each citation mark links to its source footnote, long
tables sort by any column (click its header), and an image that fails to load is reported on the
browser console, which the browser test checks. The page is byte-identical for the same inputs.
"""

from __future__ import annotations

import html
import re

from harness.report.render import Document, Section

SORTABLE_ROWS = 4  # tables with fewer rows gain nothing from sorting
STYLE = """
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 1.5em auto; max-width: 1400px; padding: 0 1em;
       color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { font-size: 1.3em; margin-top: 2em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.05em; margin-top: 1.4em; }
.caption, figcaption, .generated { color: #444; font-size: 0.92em; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.82em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.45em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; position: sticky; top: 0; }
table.sortable th { cursor: pointer; } table.sortable th::after { content: " \\2195"; color: #999; }
tbody tr:hover { background: #fff7d6; }
ul.notes, ol.sources { font-size: 0.85em; color: #333; }
nav ul { columns: 2; }
"""
# Sorting: numbers compare as numbers (the first number in a cell: '12.3 ± 0.4', '5.12M' -> 5.12e6),
# '—' and empty cells go last; a second click reverses. Images that did not load are console errors.
SCRIPT = """
(function () {
  var scale = {k: 1e3, M: 1e6, B: 1e9};
  function key(text) {
    var m = /^[^0-9+\\-.]*([+\\-]?[0-9]*\\.?[0-9]+(?:e[+\\-]?[0-9]+)?)([kMB]?)/.exec(text.trim());
    return m ? parseFloat(m[1]) * (scale[m[2]] || 1) : null;
  }
  function sortBy(table, col, th) {
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    var dir = th.getAttribute("data-dir") === "asc" ? -1 : 1;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.removeAttribute("data-dir"); });
    th.setAttribute("data-dir", dir === 1 ? "asc" : "desc");
    rows.sort(function (a, b) {
      var x = a.cells[col].textContent, y = b.cells[col].textContent, kx = key(x), ky = key(y);
      if (kx === null && ky === null) { return dir * x.localeCompare(y); }
      if (kx === null) { return 1; }
      if (ky === null) { return -1; }
      return dir * (kx - ky);
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.addEventListener("click", function () { sortBy(table, col, th); });
    });
  });
  window.addEventListener("load", function () {
    var loaded = 0;
    document.querySelectorAll("img").forEach(function (img) {
      if (img.complete && img.naturalWidth > 0) { loaded += 1; }
      else { console.error("image did not load: " + img.getAttribute("src")); }
    });
    document.body.setAttribute("data-images-loaded", String(loaded));
  });
})();
"""
CITATION = re.compile(r"\[(\d+)\]")


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def inline_code(text: str) -> str:
    """Escape, then show `code` spans (the commands in 'missing' notes) as <code>."""
    parts = esc(text).split("`")
    if len(parts) % 2 == 0:
        return esc(text)
    return "".join(f"<code>{part}</code>" if i % 2 else part for i, part in enumerate(parts))


def linked_citations(text: str, doc: Document) -> str:
    """'1.54 [2]' -> the mark links to the document's footnote 2 (the published number's source)."""
    if not doc.footnotes:
        return esc(text)
    return CITATION.sub(lambda m: f'<a href="#{doc.name}-source-{m.group(1)}">[{m.group(1)}]</a>', esc(text))


def footnote_of(cell: str, doc: Document) -> str:
    marks = [int(m) for m in CITATION.findall(cell)]
    return " | ".join(doc.footnotes[m - 1] for m in marks if 0 < m <= len(doc.footnotes))


def table_html(section: Section, doc: Document) -> list[str]:
    sortable = len(section.rows) >= SORTABLE_ROWS
    out = ['<div class="scroll">', f'<table{" class=sortable" if sortable else ""}>', "<thead><tr>"]
    out += [f"<th>{esc(h)}</th>" for h in section.header]
    out.append("</tr></thead><tbody>")
    for i, row in enumerate(section.rows):
        source = section.sources[i] if i < len(section.sources) else ""
        cells = []
        for cell in row:  # a cited cell shows its source; every other cell shows the row's
            note = footnote_of(cell, doc)
            title = f' title="{esc(note + "; " + source if source else note)}"' if note else ""
            cells.append(f"<td{title}>{linked_citations(cell, doc)}</td>")
        row_title = f' title="{esc(source)}"' if source else ""
        out.append(f"<tr{row_title}>" + "".join(cells) + "</tr>")
    out += ["</tbody></table>", "</div>"]
    return out


def document_html(doc: Document, png: str | None, pdf: str | None) -> list[str]:
    out = [f'<section id="{esc(doc.name)}">', f"<h2>{esc(doc.title)}</h2>",
           f'<p class="caption">{inline_code(doc.caption)}</p>']
    if png:
        links = f' (<a href="{esc(pdf)}">PDF</a>)' if pdf else ""
        out += ["<figure>", f'<img src="{esc(png)}" alt="{esc(doc.title)}">',
                f"<figcaption>{esc(doc.title)}{links}</figcaption>", "</figure>"]
    for section in doc.sections:
        out.append(f"<h3>{esc(section.title)}</h3>")
        if section.rows:
            out += table_html(section, doc)
        if section.notes:
            out.append('<ul class="notes">' + "".join(f"<li>{inline_code(n)}</li>" for n in section.notes) + "</ul>")
    if doc.footnotes:
        out.append("<h3>Sources of the reported numbers</h3>")
        out.append('<ol class="sources">' + "".join(
            f'<li id="{esc(doc.name)}-source-{i}">{esc(CITATION.sub("", line, count=1).strip())}</li>'
            for i, line in enumerate(doc.footnotes, start=1)) + "</ol>")
    out.append(f'<p class="generated">Also as <a href="{esc(doc.name)}.md">Markdown</a>, '
               f'<a href="{esc(doc.name)}.tex">LaTeX</a>, <a href="{esc(doc.name)}.csv">CSV</a>.</p>')
    out.append("</section>")
    return out


def index_html(docs: list[Document], figures: dict[str, tuple[str | None, str | None]], inputs_lines: list[str]) -> str:
    """The page; ``figures`` maps a document name to its PNG and PDF file names (None where absent)."""
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           "<title>bench report: tables and figures</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
           "<h1>Tables and figures</h1>",
           '<p class="generated">Generated by <code>bench report</code> from the stored records and '
           "<code>baselines/published.json</code>; do not edit. Hover over a row to see the records (or published "
           "entry) behind its numbers; click a column header of a long table to sort by it.</p>",
           "<nav><ul>"]
    out += [f'<li><a href="#{esc(doc.name)}">{esc(doc.title)}</a></li>' for doc in docs]
    out += ['<li><a href="#inputs">Inputs</a></li>', "</ul></nav>"]
    for doc in docs:
        out += document_html(doc, *figures.get(doc.name, (None, None)))
    out += ['<section id="inputs">', "<h2>Inputs</h2>", "<ul>"]
    out += [f"<li>{inline_code(line)}</li>" for line in inputs_lines]
    out += ["</ul>", "</section>", f"<script>{SCRIPT}</script>", "</body>", "</html>"]
    return "\n".join(out) + "\n"
