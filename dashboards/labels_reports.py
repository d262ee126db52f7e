"""Labels of the printable poster and the monthly report (月报).

Merged into `dashboards.i18n.CATALOGUES`; a key lives in exactly one labels module.
"""

from __future__ import annotations

ZH: dict[str, str] = {}

EN: dict[str, str] = {}
