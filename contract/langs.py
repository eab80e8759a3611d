"""Language codes Winnow treats as one language, in one place (langid labels, filter routing)."""

from __future__ import annotations

# fastText lid.176 codes of Chinese varieties, folded into ``zh`` by the langid stage and routed to
# the Chinese rules by the filters.
ZH_ALIASES: dict[str, str] = {code: "zh" for code in ("wuu", "yue", "gan", "cdo", "hak", "lzh", "zh-classical")}
ZH_CODES: frozenset[str] = frozenset({"zh", *ZH_ALIASES})
