"""Base maps the staff map may offer, configured per deployment (``BASEMAPS`` and friends in the settings).

``BASEMAPS`` lists the base maps offered, of ``none`` (blank, offline), ``osm``, ``tianditu_vec`` (天地图矢量),
``tianditu_img`` (天地图影像) and ``amap`` (高德); ``BASEMAP_DEFAULT`` the one a page opens with (``none`` by
default); ``TIANDITU_KEY`` the Tianditu ``tk``; ``BASEMAP_URLS`` a URL template per name to replace the public
one (an intranet proxy), e.g. ``{"amap": "https://tiles.intranet/amap/{z}/{x}/{y}.png"}``; a Tianditu entry may be
a list of two templates (the map and its labels). Tianditu's grid is CGCS2000 (drawn as WGS84); AMap's is GCJ-02,
so the staff map shifts every overlay to GCJ-02 while AMap is shown (``crs: "gcj02"``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["BASEMAP_NAMES", "basemap_options", "check_basemaps", "image_sources"]

_TDT = (
    "https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER={layer}"
    "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={tk}"
)
#: Every base map known: its public URL templates (a base layer and, for Tianditu, its labels), subdomains, CRS.
_CATALOGUE: dict[str, dict] = {
    "none": {"urls": [], "subdomains": "", "crs": "wgs84", "maxZoom": 20, "attribution": ""},
    "osm": {
        "urls": ["https://tile.openstreetmap.org/{z}/{x}/{y}.png"],
        "subdomains": "",
        "crs": "wgs84",
        "maxZoom": 19,
        "attribution": "© OpenStreetMap",
    },
    "tianditu_vec": {
        "urls": [_TDT.replace("{layer}", "vec"), _TDT.replace("{layer}", "cva")],
        "subdomains": "01234567",
        "crs": "wgs84",
        "maxZoom": 18,
        "attribution": "© 天地图",
    },
    "tianditu_img": {
        "urls": [_TDT.replace("{layer}", "img"), _TDT.replace("{layer}", "cia")],
        "subdomains": "01234567",
        "crs": "wgs84",
        "maxZoom": 18,
        "attribution": "© 天地图",
    },
    "amap": {
        "urls": ["https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"],
        "subdomains": "1234",
        "crs": "gcj02",
        "maxZoom": 18,
        "attribution": "© 高德地图",
    },
}
BASEMAP_NAMES = tuple(_CATALOGUE)


def _urls(name: str, settings: dict) -> list[str]:
    override = (settings.get("BASEMAP_URLS") or {}).get(name)
    urls = [override] if isinstance(override, str) else list(override or _CATALOGUE[name]["urls"])
    key = settings.get("TIANDITU_KEY") or ""
    return [u.replace("{tk}", key) for u in urls]


def _is_template(url) -> bool:
    """Whether ``url`` is an http(s) tile URL template with ``{z}``, ``{x}`` and ``{y}``."""
    return (
        isinstance(url, str)
        and all(p in url for p in ("{z}", "{x}", "{y}"))
        and urlsplit(url).scheme in ("http", "https")
    )


def check_basemaps(values: dict) -> list[str]:
    """The problems of the base-map settings in ``values`` (empty when they are usable).

    Parameters
    ----------
    values : dict
        Settings as read from a file (only ``BASEMAPS``, ``BASEMAP_DEFAULT``, ``BASEMAP_URLS`` and
        ``TIANDITU_KEY`` are looked at; missing keys take their defaults).

    Returns
    -------
    list of str
        One bilingual sentence per problem.
    """
    problems = []
    offered = values.get("BASEMAPS", ["none"])
    if not isinstance(offered, list) or not offered or not all(isinstance(n, str) for n in offered):
        return ["设置 BASEMAPS 应为底图名称列表 setting BASEMAPS must be a non-empty list of base-map names"]
    unknown = [n for n in offered if n not in _CATALOGUE]
    if unknown:
        problems.append(f"未知底图 unknown base map(s) {', '.join(unknown)} in BASEMAPS: {', '.join(BASEMAP_NAMES)}")
    default = values.get("BASEMAP_DEFAULT", "none")
    if default not in offered:
        problems.append(f"BASEMAP_DEFAULT {default!r} 不在 BASEMAPS 中 is not one of BASEMAPS")
    urls = values.get("BASEMAP_URLS") or {}
    if not isinstance(urls, dict):
        return [*problems, "设置 BASEMAP_URLS 应为对象 setting BASEMAP_URLS must be a JSON object"]
    for name, url in urls.items():
        templates = [url] if isinstance(url, str) else url
        if name not in _CATALOGUE or name == "none":
            problems.append(f"BASEMAP_URLS: 未知底图 unknown base map {name!r}")
        elif not isinstance(templates, list) or not templates or not all(_is_template(u) for u in templates):
            problems.append(
                f"BASEMAP_URLS[{name!r}] 应为含 {{z}} {{x}} {{y}} 的 http(s) 地址模板 must be an http(s) URL template "
                "with {z}, {x} and {y} (or a list of them)"
            )
    key = values.get("TIANDITU_KEY")
    if key is not None and not isinstance(key, str):
        problems.append("设置 TIANDITU_KEY 应为字符串 setting TIANDITU_KEY must be a string")
    for name in offered:
        if name.startswith("tianditu") and not key and name not in urls:
            problems.append(
                f"底图 {name} 需要 TIANDITU_KEY base map {name} needs TIANDITU_KEY (or a BASEMAP_URLS proxy)"
            )
    return problems


def basemap_options(settings: dict) -> dict:
    """What the staff map needs: ``{"default", "maps": [{name, urls, subdomains, crs, maxZoom, attribution}]}``."""
    offered = settings.get("BASEMAPS") or ["none"]
    maps = [{"name": n, **_CATALOGUE[n], "urls": _urls(n, settings)} for n in offered if n in _CATALOGUE]
    return {"default": settings.get("BASEMAP_DEFAULT") or "none", "maps": maps}


def image_sources(settings: dict) -> list[str]:
    """The origins the offered base maps load images from, for the page's Content-Security-Policy ``img-src``."""
    out = set()
    for entry in basemap_options(settings)["maps"]:
        for url in entry["urls"]:
            parts = urlsplit(url.replace("{s}", "SUBDOMAIN"))
            if parts.scheme in ("http", "https") and parts.netloc:
                host = parts.netloc
                if "SUBDOMAIN" in host:  # one subdomain per letter: allow the parent domain's hosts
                    host = "*." + host.split(".", 1)[1]
                out.add(f"{parts.scheme}://{host}")
    return sorted(out)
