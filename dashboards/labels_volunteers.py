"""Labels of the committee's volunteer screens (list, edit, import, sign-in links).

Merged into `dashboards.i18n.CATALOGUES`; a key lives in exactly one labels module.
"""

from __future__ import annotations

ZH: dict[str, str] = {}

EN: dict[str, str] = {}
