"""HTML for `sincos report`: one self-contained page (standard library only).

Everything the page shows is in the file: the CSS inline, pictures as data URIs, and a few
lines of plain JavaScript that make tables sort when a header is clicked. Without the script
the tables read as written (their headers are plain text then), and the page asks nothing of
the network or of any other file.

Tables are real text. A cell may carry its exact value in `data-v` (a number as JSON writes
it, so nothing is lost to the shown rounding): what sorting uses, and what tests compare with
`compare --json`.
"""

from __future__ import annotations

import base64
import json
import math
from html import escape

from sincos_cli.status import RunStatus

# Status marks: a symbol as well as a colour, so statuses stay apart in greyscale print.
MARKS = {RunStatus.COMPLETED: "✓", RunStatus.FAILED: "✗", RunStatus.CRASHED: "✗",
         RunStatus.CORRUPT: "⚠", RunStatus.UNREADABLE: "⚠", "missing": "⚠",
         RunStatus.INTERRUPTED: "‖", RunStatus.PRUNED: "✂", RunStatus.RUNNING: "…"}


class Html(str):
    """Markup: made by these primitives, or text already escaped (esc), or a literal of the
    code's own. Every other str a primitive is given as a caption, note, fact or cell is
    text, escaped here: the one place where text from a folder meets the page."""


def esc(x) -> Html:
    """Text as HTML (quotes too, so it may stand in an attribute); Html passes as it is.
    A lone surrogate (a name whose bytes were not UTF-8) becomes U+FFFD: the page is
    written as UTF-8."""
    if isinstance(x, Html):
        return x
    text = "" if x is None else str(x)
    text = text.encode("utf-8", "replace").decode("utf-8")
    return Html(escape(text, quote=True))


def status(name: str) -> str:
    """A status as a mark and a word, e.g. `✓ completed`."""
    return (f'<span class="st st-{esc(name)}">{MARKS.get(name, "·")}&nbsp;{esc(name)}'
            "</span>")


def sort_value(v) -> str | None:
    """A cell's data-v: numbers as JSON writes them, None as nothing (sorted last)."""
    if v is None:
        return None
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, (int, float)):
        return json.dumps(v) if math.isfinite(v) else None
    return str(v)


class Cell:
    """A table cell: what it shows (text, escaped; or html as given) and its exact value."""

    __slots__ = ("html", "value")

    def __init__(self, text=None, value=None, html: str | None = None):
        self.html = esc(html) if html is not None else esc("-" if text is None else text)
        self.value = value


def table(cols: list[str], rows: list[list], caption: str | None = None,
          sortable: bool = False, numeric: set[str] | tuple = (), id: str | None = None,
          titles: dict[str, str] | None = None, wrap: tuple = (),
          classes: list[str | None] | None = None) -> str:
    """A table in a horizontally scrolling box (wide tables never widen the page). A row's
    items are Cells or plain values (shown as text). `numeric` columns are right-aligned,
    `wrap` columns may wrap; `titles` explain a header on hover; `classes` gives each row
    its class (or None). The caption (html) sits above the box, at the page's width, and
    describes the table to a screen reader."""
    out = []
    described = ""
    if caption:
        cap_id = f"{id}-caption" if id else None
        out.append(f'<p class="caption"{f" id={quote(cap_id)}" if cap_id else ""}>'
                   f"{esc(caption)}</p>")
        described = f" aria-describedby={quote(cap_id)}" if cap_id else ""
    out += ['<div class="scroll">', f'<table{f" id={quote(id)}" if id else ""}{described}'
            f'{" class=sortable" if sortable else ""}>']
    heads = "".join(
        f'<th scope="col"{" class=num" if c in numeric else ""}'
        f'{f" title={quote(titles[c])}" if titles and c in titles else ""}>{esc(c)}</th>'
        for c in cols)
    out.append(f"<thead><tr>{heads}</tr></thead><tbody>")
    for n, row in enumerate(rows):
        tds = []
        for c, item in zip(cols, row, strict=True):
            cell = item if isinstance(item, Cell) else Cell(item, item)
            v = sort_value(cell.value)
            cls = " ".join(n for n, on in (("num", c in numeric), ("wrap", c in wrap)) if on)
            attrs = (f" class={quote(cls)}" if cls else "") + \
                (f" data-v={quote(v)}" if v is not None else "")
            tds.append(f"<td{attrs}>{cell.html}</td>")
        cls = classes[n] if classes else None
        out.append(f"<tr{f' class={quote(cls)}' if cls else ''}>{''.join(tds)}</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out)


def quote(v: str) -> str:
    return '"' + esc(v) + '"'


def facts(pairs: list[tuple[str, str]]) -> str:
    """A definition list of label → value (text, or Html)."""
    items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in pairs if v)
    return f'<dl class="facts">{items}</dl>'


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def figure(data: bytes, mime: str, alt: str, caption: str | None = None,
           size: tuple[int, int] | None = None) -> str:
    """A picture embedded in the page, with its text alternative and caption. `size` (the
    picture's own pixels) reserves its place while the page loads."""
    wh = f' width="{size[0]}" height="{size[1]}"' if size else ""
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{data_uri(data, mime)}" alt={quote(alt)}{wh}>{cap}</figure>'



def note(text: str, kind: str = "note") -> str:
    """A paragraph set apart (text, or Html): kind `damaged` (⚠, what could not be shown
    and why) or `note`."""
    mark = "⚠ " if kind == "damaged" else ""
    return f'<p class="{esc(kind)}">{mark}{esc(text)}</p>'


def section(id: str, title: str, body: str) -> str:
    """A titled part of the page; `body` is markup the primitives made."""
    return f'<section id="{esc(id)}"><h2>{esc(title)}</h2>\n{body}\n</section>'


def document(title: str, header: str, sections: list[str], footer: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            f'<main>\n<header>{header}</header>\n' + "\n".join(sections)
            + f"\n<footer>{footer}</footer>\n</main>\n<script>{JS}</script>\n</body>\n</html>\n")


CSS = """
:root { color-scheme: light; --fg: #1a1a1a; --muted: #555; --rule: #c8c8c8; --zebra: #f4f4f4;
  --accent: #1f4e8c; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff; line-height: 1.45;
  font: 16px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", Arial, sans-serif; }
main { max-width: 76rem; margin: 0 auto; padding: 1rem 1.25rem 3rem; }
h1 { font-size: 1.6rem; margin: .4rem 0 .6rem; overflow-wrap: anywhere; }
h2 { font-size: 1.25rem; margin: 2.2rem 0 .6rem; padding-bottom: .2rem;
  border-bottom: 2px solid var(--fg); }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
p { margin: .4rem 0 .8rem; max-width: 60rem; }
code, pre, .mono { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace;
  font-size: .88rem; }
pre { background: var(--zebra); border: 1px solid var(--rule); padding: .6rem .8rem;
  white-space: pre-wrap; overflow-wrap: anywhere; margin: .4rem 0 1rem; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem;
  margin: .4rem 0 1rem; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; overflow-wrap: anywhere; }
.scroll { overflow-x: auto; margin: .2rem 0 1.2rem; max-width: 100%; }
table { border-collapse: collapse; font-size: .9rem; font-variant-numeric: tabular-nums; }
.caption { color: var(--muted); margin: .6rem 0 .2rem; }
th, td { padding: .25rem .6rem; border-bottom: 1px solid var(--rule); text-align: left;
  vertical-align: top; white-space: nowrap; }
td.wrap { white-space: normal; overflow-wrap: anywhere; min-width: 12rem; }
th { border-bottom: 2px solid var(--fg); font-weight: 600; }
.num { text-align: right; }
tbody tr:nth-child(even) { background: var(--zebra); }
th button { font: inherit; font-weight: 600; color: inherit; background: none; border: 0;
  padding: 0; cursor: pointer; text-align: inherit; }
th button::after { content: " ↕"; color: var(--muted); font-weight: 400; }
th[aria-sort=ascending] button::after { content: " ▲"; color: var(--fg); }
th[aria-sort=descending] button::after { content: " ▼"; color: var(--fg); }
th button:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
figure { margin: .6rem 0 1.4rem; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--rule); }
figcaption { color: var(--muted); font-size: .9rem; margin-top: .3rem; max-width: 60rem; }
.figs { display: grid; grid-template-columns: repeat(auto-fit, minmax(18rem, 1fr));
  gap: 0 1.2rem; }
.st { white-space: nowrap; }
.st-completed { color: #1b5e20; } .st-failed, .st-crashed { color: #b71c1c; font-weight: 600; }
.st-corrupt, .st-unreadable, .st-missing { color: #8a4b00; font-weight: 600; }
.st-interrupted, .st-pruned { color: #4a4a4a; }
.changed td { font-weight: 600; }
.damaged { border-left: 4px solid #8a4b00; background: #fff4e5; padding: .4rem .7rem; }
.note { color: var(--muted); }
.error { border-left: 4px solid #b71c1c; padding: .2rem .7rem; overflow-wrap: anywhere; }
footer { margin-top: 3rem; color: var(--muted); font-size: .85rem;
  border-top: 1px solid var(--rule); padding-top: .6rem; overflow-wrap: anywhere; }
@media (max-width: 40rem) {
  body { font-size: 15px; }
  main { padding: .6rem .7rem 2rem; }
  .facts { grid-template-columns: 1fr; } .facts dt { margin-top: .35rem; }
}
@media print {
  body { font-size: 10.5pt; }
  main { max-width: none; padding: 0; }
  .scroll { overflow: visible; }
  table { font-size: 8.5pt; }
  th, td { white-space: normal; padding: .15rem .35rem; }
  th button::after { content: none; }
  figure, table, pre { break-inside: avoid; }
  h2 { break-after: avoid; }
  .damaged { background: none; }
}
"""

# Sorts a table.sortable by the clicked header: by each cell's data-v (numbers as numbers),
# missing values last either way; a second click reverses. Headers become buttons, so the
# keyboard reaches them too.
JS = """
(function () {
  function key(td) {
    var v = td.getAttribute("data-v");
    if (v === null) return null;
    var n = Number(v);
    return v !== "" && !isNaN(n) ? n : v.toLowerCase();
  }
  function compare(a, b) {
    if (typeof a === typeof b) return a < b ? -1 : a > b ? 1 : 0;
    return typeof a === "number" ? -1 : 1;
  }
  function sort(table, th, col) {
    var up = th.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) {
      h.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", up ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows).map(function (r, i) {
      return [key(r.cells[col]), i, r];
    });
    rows.sort(function (a, b) {
      if (a[0] === null || b[0] === null) {
        return a[0] === b[0] ? a[1] - b[1] : a[0] === null ? 1 : -1;
      }
      return (up ? 1 : -1) * compare(a[0], b[0]) || a[1] - b[1];
    });
    rows.forEach(function (r) { body.appendChild(r[2]); });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (t) {
    Array.prototype.forEach.call(t.tHead.rows[0].cells, function (th, col) {
      var b = document.createElement("button");
      b.type = "button";
      b.textContent = th.textContent;
      b.title = "sort by " + th.textContent;
      th.textContent = "";
      th.appendChild(b);
      b.addEventListener("click", function () { sort(t, th, col); });
    });
  });
})();
"""
