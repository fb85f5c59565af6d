"""A CJK font for charts, found among the fonts matplotlib knows — or a loud fallback.

Chinese district names and labels need a font with Han glyphs; matplotlib's default
(DejaVu Sans) has none and would draw empty boxes. `cjk_font()` looks for a known CJK
family (Debian: `apt-get install fonts-noto-cjk`; Windows and macOS ship YaHei/SimHei
and PingFang). `ALLOCATOR_CJK_FONT=/path/to/font.otf` adds a font file of your own.
Without any, charts show ids instead of Chinese names, English labels instead of
Chinese ones, and `CJKFontMissing` is warned once: never a silent row of boxes.
"""
from __future__ import annotations

import functools
import os
import re
import unicodedata
import warnings
from pathlib import Path

from matplotlib import font_manager

CJK_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN", "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei", "Microsoft YaHei", "SimHei", "PingFang SC", "Heiti SC", "Noto Sans CJK JP",
    "Noto Serif CJK SC", "Source Han Serif SC", "AR PL UMing CN", "Droid Sans Fallback",
)
CJK_FILE = re.compile(r"(?i)cjk|wqy|wenquanyi|sourcehan|notosanssc|msyh|simhei|pingfang|droidsansfallback|uming")
INSTALL_HINT = "install one with `apt-get install fonts-noto-cjk` (Debian/Ubuntu) or set ALLOCATOR_CJK_FONT to a font file"


class CJKFontMissing(UserWarning):
    """No font with Chinese glyphs was found; charts fall back to ids and English."""


@functools.cache
def cjk_font() -> str | None:
    """The family name of the first CJK font matplotlib can use, or None."""
    own = os.environ.get("ALLOCATOR_CJK_FONT")
    if own:
        if Path(own).is_file():
            font_manager.fontManager.addfont(own)
            return font_manager.FontProperties(fname=own).get_name()
        warnings.warn(f"ALLOCATOR_CJK_FONT={own} is not a font file; looking for installed CJK fonts", CJKFontMissing, stacklevel=2)
    found = _known_family()
    if found is None and _add_system_cjk_files():
        found = _known_family()
    return found


def _known_family() -> str | None:
    known = {f.name for f in font_manager.fontManager.ttflist}
    return next((family for family in CJK_FAMILIES if family in known), None)


def _add_system_cjk_files() -> bool:
    """Fonts installed after matplotlib built its font cache are missing from it: add them."""
    added = False
    for path in font_manager.findSystemFonts():
        if CJK_FILE.search(Path(path).name):
            try:
                font_manager.fontManager.addfont(path)
                added = True
            except (OSError, RuntimeError, ValueError):
                continue
    return added


def has_cjk(text: object) -> bool:
    """True when `text` holds a character no Latin font draws (Han, kana, hangul, full-width)."""
    return any(unicodedata.east_asian_width(ch) in ("W", "F") for ch in str(text))


def chart_style() -> dict:
    """rcParams for charts: DejaVu Sans for Latin, falling back per glyph to the CJK font."""
    family = ["DejaVu Sans"] + ([cjk_font()] if cjk_font() else [])
    return {"font.family": family, "axes.unicode_minus": False, "svg.fonttype": "path", "svg.hashsalt": "allocator"}


def chart_language(lang: str) -> str:
    """The language charts can be drawn in: 'zh' only when a CJK font exists."""
    if lang == "zh" and cjk_font() is None:
        warn_missing("chart labels are in English")
        return "en"
    return lang


def display_name(name: object, ident: object) -> str:
    """The name when it can be drawn, else the id (with a warning): never empty boxes."""
    text = "" if name is None else str(name)
    if not text or text == "nan":
        return str(ident)
    if has_cjk(text) and cjk_font() is None:
        warn_missing("Chinese names are shown as ids")
        return str(ident)
    return text


def warn_missing(consequence: str) -> None:
    _warn_once(f"no CJK font found: {consequence}; {INSTALL_HINT}")


@functools.cache
def _warn_once(message: str) -> None:
    warnings.warn(message, CJKFontMissing, stacklevel=3)


def reset() -> None:
    """Forget the font search (tests that fake a machine without CJK fonts)."""
    cjk_font.cache_clear()
    _warn_once.cache_clear()
