"""The pages' one style sheet (inlined in every page; the CSP allows inline styles).

Every page fits a 390 px phone without scrolling sideways (tests/dashboards/
test_responsive_pages.py): grid columns never ask for more than the screen
(`min(…, 100%)`), grid and flex children may shrink below their content (`min-width:0`),
a wide table scrolls inside its own `.scroll` box, and long words (ids, links) wrap.
Forms are usable on a phone: inputs at 16 px (smaller ones make iOS zoom in), buttons
and links of forms at least 44 px high (a finger's tap target), fields full width.
"""

from __future__ import annotations

# `content-visibility:auto` on the tables: the browser lays out a table only when it
# comes near the viewport. Every plotly chart drawn forces a layout of the page, and with
# a year's 365-row table in it those layouts were ~0.5 s of the overview's drawing time.
# `contain` on the charts keeps each chart's own relayouts from spreading to the page.

CSS = """
*{box-sizing:border-box}html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;font:14px/1.5 system-ui,'PingFang SC','Noto Sans CJK SC',
'Microsoft YaHei',sans-serif;color:#111827;background:#f3f4f6;overflow-wrap:anywhere}
header{display:flex;flex-wrap:wrap;gap:8px 12px;align-items:center;padding:10px 20px;
background:#0f766e;color:#fff}header a{color:#fff;text-decoration:none;margin-right:12px}
header nav{display:flex;flex-wrap:wrap;gap:4px 0}
header .brand{font-weight:600;margin-right:24px}header .right{margin-left:auto;
display:flex;flex-wrap:wrap;gap:8px;align-items:center}
header form{display:inline}header button{background:none;border:1px solid #fff;color:#fff;
border-radius:4px;cursor:pointer}
main{padding:16px 20px;max-width:1400px;margin:auto}h1{font-size:22px;margin:4px 0 12px}
h2{font-size:15px;margin:0 0 8px;display:flex;flex-wrap:wrap;gap:4px 12px;
align-items:baseline}
.picker{background:#fff;padding:10px 12px;border-radius:8px;margin-bottom:14px;display:flex;
flex-wrap:wrap;gap:10px;align-items:center}.picker a{color:#0f766e}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(220px,100%),1fr));
gap:12px;margin-bottom:14px}.card{background:#fff;border-radius:8px;padding:12px 14px;
border-left:6px solid #9ca3af;min-width:0}.card.met{border-color:#16a34a}
.card.missed{border-color:#dc2626}
.card .label{color:#4b5563}.card .value{font-size:30px;font-weight:600}
.card .meta{color:#6b7280;font-size:12px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(520px,100%),1fr));
gap:12px}.grid>*,.cards>*{min-width:0}
.chart,.table{background:#fff;border-radius:8px;padding:12px 14px;margin-bottom:12px;
min-width:0;max-width:100%}
.chart{contain:layout paint}.chart>div{max-width:100%}
.table{content-visibility:auto;contain-intrinsic-size:auto 480px}
details.rows>summary{cursor:pointer;color:#0f766e;padding:4px 0}
.scroll{max-height:420px;overflow:auto;max-width:100%;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;width:100%}
th,td{padding:4px 8px;border-bottom:1px solid #e5e7eb;text-align:left;white-space:nowrap;
overflow-wrap:normal}
th{cursor:pointer;background:#f9fafb;position:sticky;top:0}td.num{text-align:right}
.exports{font-weight:normal;font-size:12px}.exports a{color:#0f766e}
.note{color:#6b7280}.error{color:#b91c1c}
input,select,textarea{font:inherit;max-width:100%}img,svg,canvas{max-width:100%}
form.form label,.form-row label{display:block;margin:6px 0}
form.form input:not([type=hidden]):not([type=checkbox]):not([type=radio]),
form.form select,form.form textarea{display:block;width:100%;margin-top:4px}
input[aria-invalid=true],select[aria-invalid=true],textarea[aria-invalid=true]{
border:2px solid #b91c1c;background:#fef2f2}
.msg{background:#fff8e1;border-radius:8px;padding:10px 12px;margin:8px 0}
@media (max-width:640px){
main{padding:10px}header{padding:8px 10px}header .brand{margin-right:8px}
h1{font-size:19px}.card .value{font-size:26px}
.chart,.table{padding:10px}.picker{padding:8px}
input,select,textarea{font-size:16px}
main button:not(.modebar-btn),input[type=submit],.btn{min-height:44px;padding:8px 14px}
.picker a.preset{display:inline-flex;align-items:center;min-height:44px}
details.rows>summary{min-height:44px;padding:10px 0}
header button{min-height:36px}header a{display:inline-block;padding:6px 0}
.picker label{display:flex;flex-wrap:wrap;gap:4px;align-items:center}}
@media print{header,.picker,.exports,.noprint{display:none}body{background:#fff}
.table,details.rows::details-content{content-visibility:visible}
details.rows>summary{display:none}
.scroll{max-height:none;overflow:visible}.table,.chart{break-inside:avoid}}
"""
