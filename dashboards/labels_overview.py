"""Labels of the overview's accuracy, definitions (口径) and freshness badge.

Merged into `dashboards.i18n.CATALOGUES`; a key lives in exactly one labels module.
"""

from __future__ import annotations

ZH: dict[str, str] = {}

EN: dict[str, str] = {}
