"""Labels of the committee's watch-slot and roster screens.

Merged into `dashboards.i18n.CATALOGUES`; a key lives in exactly one labels module.
"""

from __future__ import annotations

ZH: dict[str, str] = {}

EN: dict[str, str] = {}
