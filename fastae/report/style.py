"""The report's style sheet: inline, no fonts or images fetched; a print style that keeps every
table and figure within the page."""

STYLE = """
:root { color-scheme: light; --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --soft: #f6f8fa;
        --accent: #0969da; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue",
       Arial, sans-serif; color: var(--ink); background: #fff; }
main { max-width: 1240px; margin: 0 auto; padding: 24px 28px 64px; }
header { border-bottom: 2px solid var(--line); margin-bottom: 16px; }
h1 { font-size: 1.7em; margin: 0 0 4px; }
h2 { font-size: 1.3em; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05em; margin: 22px 0 8px; }
.meta, .note, figcaption, .muted { color: var(--muted); }
.meta { margin: 0 0 12px; font-size: 0.9em; }
nav { font-size: 0.92em; margin: 8px 0 0; }
nav a { color: var(--accent); text-decoration: none; margin-right: 14px; white-space: nowrap; }
code, pre, td.num, .key { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.highlights { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; background: var(--soft);
        min-width: 150px; }
.card .label { font-size: 0.82em; color: var(--muted); }
.card .value { font-size: 1.35em; font-weight: 600; }
blockquote.question { margin: 8px 0 12px; padding: 6px 14px; border-left: 4px solid var(--accent);
                      background: var(--soft); }
table { border-collapse: collapse; margin: 8px 0 12px; font-size: 0.92em; max-width: 100%; }
th, td { border: 1px solid var(--line); padding: 4px 9px; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; }
th { background: var(--soft); font-weight: 600; }
td.num { text-align: right; white-space: nowrap; }
td.list { white-space: normal; min-width: 12em; }
.key { font-size: 0.85em; color: var(--muted); }
.scroll { overflow-x: auto; max-width: 100%; }
.tables { display: flex; flex-wrap: wrap; gap: 0 24px; align-items: flex-start; }
.tables h3 { margin-top: 8px; }
details { margin: 8px 0; }
summary { cursor: pointer; font-weight: 600; }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px;
      font-size: 0.82em; white-space: pre-wrap; word-break: break-all; max-height: 320px; overflow: auto; }
figure { margin: 18px 0 26px; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
figcaption { font-size: 0.92em; margin-top: 6px; max-width: 80em; }
figcaption .name { font-weight: 600; color: var(--ink); }
table.grid { border-collapse: collapse; margin: 0; font-size: 0.8em; }
table.grid td { border: 1px solid #e5e9ee; padding: 1px 4px; min-width: 2.6em; text-align: center;
                font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
table.ref td, table.ref th { vertical-align: middle; }
.warn { color: #9a6700; }
@media print {
  @page { margin: 14mm; }
  body { font-size: 10.5pt; }
  main { max-width: none; padding: 0; }
  nav { display: none; }
  h2 { break-after: avoid; margin-top: 18px; }
  h3 { break-after: avoid; }
  .scroll { overflow: visible; }
  table { width: auto; max-width: 100%; }
  td.num { white-space: normal; }
  tr, .card, blockquote { break-inside: avoid; }
  figure { break-inside: avoid; }
  figure img { max-width: 100%; max-height: 230mm; width: auto; border: none; }
  pre { max-height: none; overflow: visible; }
}
"""
