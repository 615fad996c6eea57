"""The 21 prefecture-level cities of Guangdong and how to recognise them in free text."""

from __future__ import annotations

from .labels import squash

GUANGDONG_CITIES: tuple[str, ...] = (
    "广州市", "深圳市", "珠海市", "汕头市", "佛山市", "韶关市", "河源市",
    "梅州市", "惠州市", "汕尾市", "东莞市", "中山市", "江门市", "阳江市",
    "湛江市", "茂名市", "肇庆市", "清远市", "潮州市", "揭阳市", "云浮市",
)
_SHORT = {city[:-1]: city for city in GUANGDONG_CITIES}
# names written in traditional characters now and then (copied from HK/TW fonts or old templates)
_VARIANTS = {"廣州": "广州市", "東莞": "东莞市", "肇慶": "肇庆市", "韶關": "韶关市", "陽江": "阳江市",
             "湛江": "湛江市", "茂名": "茂名市", "雲浮": "云浮市", "揭陽": "揭阳市", "潮州": "潮州市",
             "汕頭": "汕头市", "惠州": "惠州市", "梅州": "梅州市", "河源": "河源市", "清遠": "清远市",
             "江門": "江门市", "珠海": "珠海市", "深圳": "深圳市", "佛山": "佛山市", "中山": "中山市",
             "汕尾": "汕尾市"}


def normalize_city(text: str | None) -> str | None:
    """The city named first in ``text`` (``"广州市人力资源和社会保障局"`` -> ``"广州市"``), or None."""
    flat = squash(text)
    if not flat:
        return None
    best: tuple[int, str] | None = None
    for short, city in list(_SHORT.items()) + list(_VARIANTS.items()):
        pos = flat.find(short)
        if pos >= 0 and (best is None or pos < best[0]):
            best = (pos, city)
    return best[1] if best else None
