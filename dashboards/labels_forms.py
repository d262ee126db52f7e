"""Labels of form errors, alarm codes, rejection reasons and the sign-in pages.

Merged into `dashboards.i18n.CATALOGUES`; a key lives in exactly one labels module.
"""

from __future__ import annotations

ZH: dict[str, str] = {}

EN: dict[str, str] = {}
