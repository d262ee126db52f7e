"""The pages' one style sheet (inlined in every page; the CSP allows inline styles)."""

from __future__ import annotations

# `content-visibility:auto` on the tables: the browser lays out a table only when it
# comes near the viewport. Every plotly chart drawn forces a layout of the page, and with
# a year's 365-row table in it those layouts were ~0.5 s of the overview's drawing time.
# `contain` on the charts keeps each chart's own relayouts from spreading to the page.

CSS = """
*{box-sizing:border-box}body{margin:0;font:14px/1.5 system-ui,'PingFang SC','Noto Sans CJK SC',
'Microsoft YaHei',sans-serif;color:#111827;background:#f3f4f6}
header{display:flex;flex-wrap:wrap;gap:12px;align-items:center;padding:10px 20px;
background:#0f766e;color:#fff}header a{color:#fff;text-decoration:none;margin-right:12px}
header .brand{font-weight:600;margin-right:24px}header .right{margin-left:auto}
header form{display:inline}header button{background:none;border:1px solid #fff;color:#fff;
border-radius:4px;cursor:pointer}
main{padding:16px 20px;max-width:1400px;margin:auto}h1{font-size:22px;margin:4px 0 12px}
h2{font-size:15px;margin:0 0 8px;display:flex;gap:12px;align-items:baseline}
.picker{background:#fff;padding:10px 12px;border-radius:8px;margin-bottom:14px;display:flex;
flex-wrap:wrap;gap:10px;align-items:center}.picker a{color:#0f766e}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(220px,1fr));gap:12px;
margin-bottom:14px}.card{background:#fff;border-radius:8px;padding:12px 14px;
border-left:6px solid #9ca3af}.card.met{border-color:#16a34a}.card.missed{border-color:#dc2626}
.card .label{color:#4b5563}.card .value{font-size:30px;font-weight:600}
.card .meta{color:#6b7280;font-size:12px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:12px}
.chart,.table{background:#fff;border-radius:8px;padding:12px 14px;margin-bottom:12px}
.chart{contain:layout paint}.table{content-visibility:auto;contain-intrinsic-size:auto 480px}
.scroll{max-height:420px;overflow:auto}table{border-collapse:collapse;width:100%}
th,td{padding:4px 8px;border-bottom:1px solid #e5e7eb;text-align:left;white-space:nowrap}
th{cursor:pointer;background:#f9fafb;position:sticky;top:0}td.num{text-align:right}
.exports{font-weight:normal;font-size:12px}.exports a{color:#0f766e}
.note{color:#6b7280}.error{color:#b91c1c}
@media print{header,.picker,.exports,.noprint{display:none}body{background:#fff}
.table{content-visibility:visible}
.scroll{max-height:none;overflow:visible}.table,.chart{break-inside:avoid}}
"""
