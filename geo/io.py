"""Reading and writing vector files through pyogrio/GDAL: GeoJSON, GeoPackage, zipped Shapefile, KML, CSV, Excel.

Every reader returns a GeoDataFrame in WGS84. The input CRS comes from the file, or from ``crs`` when given
(which overrides the file: AMap exports say EPSG:4326 but are GCJ-02). Shapefile attributes are decoded with
the encoding named by ``encoding``, else the ``.cpg`` file, else detected: UTF-8 when the DBF decodes as UTF-8,
otherwise GB18030 (a superset of GBK, the usual encoding of Chinese Shapefiles without a ``.cpg``).
Tables (CSV, Excel ``.xlsx``: its first sheet) carry lon/lat (or x/y, 经度/纬度) or WKT columns.
"""

from __future__ import annotations

import io
import os
import struct
import tempfile
import warnings
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from geo.crs import (
    WGS84,
    check_area_of_use,
    check_lonlat,
    geometries_from_wgs84,
    geometries_to_wgs84,
    normalize_crs,
    outside_area_of_use,
)
from geo.errors import CoordinateRangeError, EncodingError, FileFormatError, GeoError

__all__ = ["read_vector", "read_points_table", "write_vector", "detect_dbf_encoding", "FORMATS", "TABLE_SUFFIXES"]

#: File extensions and the GDAL driver that writes them.
FORMATS = {
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".gpkg": "GPKG",
    ".zip": "ESRI Shapefile",
    ".shp": "ESRI Shapefile",
    ".kml": "KML",
    ".csv": "CSV",
}
_LON_NAMES = ("lon", "lng", "longitude", "x", "经度")
_LAT_NAMES = ("lat", "latitude", "y", "纬度")
_WKT_NAMES = ("wkt", "geometry", "geom", "the_geom")
#: Suffixes read as tables of points (or WKT) rather than through GDAL.
TABLE_SUFFIXES = (".csv", ".txt", ".xlsx")


def detect_dbf_encoding(dbf_bytes: bytes, cpg: str | None = None) -> str:
    """Encoding of a DBF file's text: from its ``.cpg`` text if given, else UTF-8 if it decodes, else GB18030."""
    if cpg:
        name = cpg.strip().lower()
        return {"936": "gbk", "cp936": "gbk", "65001": "utf-8"}.get(name, name)
    if len(dbf_bytes) < 32:
        raise FileFormatError("DBF 文件损坏 the .dbf file is truncated")
    header_length = struct.unpack("<H", dbf_bytes[8:10])[0]
    body = dbf_bytes[header_length:]
    try:
        body.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        body.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise EncodingError("无法识别属性编码 cannot detect the DBF text encoding: pass --encoding") from exc
    return "gb18030"


def _shapefile_encoding(path: Path) -> str:
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            dbf = [n for n in names if n.lower().endswith(".dbf")]
            if not dbf:
                raise FileFormatError(f"{path.name}: 压缩包内没有 Shapefile no .shp/.dbf inside the zip")
            cpg = [n for n in names if n.lower() == dbf[0].lower()[:-4] + ".cpg"]
            return detect_dbf_encoding(zf.read(dbf[0]), zf.read(cpg[0]).decode("ascii", "replace") if cpg else None)
    dbf = path.with_suffix(".dbf")
    cpg = path.with_suffix(".cpg")
    return detect_dbf_encoding(
        dbf.read_bytes() if dbf.exists() else b"", cpg.read_text("ascii", "replace") if cpg.exists() else None
    )


def _is_shapefile(path: Path) -> bool:
    if path.suffix.lower() == ".shp":
        return True
    if path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as zf:
                return any(n.lower().endswith(".shp") for n in zf.namelist())
        except zipfile.BadZipFile as exc:
            raise FileFormatError(f"{path.name}: 不是有效的 zip 文件 not a valid zip file") from exc
    return False


def _to_wgs84(gdf: gpd.GeoDataFrame, crs, keep_invalid: bool = False) -> gpd.GeoDataFrame:
    """Convert to WGS84 with our CRS module (it knows GCJ-02 and BD-09) and check the coordinate range.

    With ``keep_invalid``, points out of range lose their geometry (as rows without coordinates do) unless every
    point is out of range, which still raises (the data are projected, or longitude and latitude swapped).
    """
    source = normalize_crs(crs) if crs is not None else (normalize_crs(gdf.crs) if gdf.crs is not None else WGS84)
    geoms = np.asarray(gdf.geometry.values, dtype=object).copy()
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if not isinstance(source, str) and present.any():
        _check_area_of_use(geoms, present, source, keep_invalid)
    out = geoms.copy()
    out[present] = geometries_to_wgs84(geoms[present], source)
    if keep_invalid and present.any() and (shapely.get_type_id(out[present]) == 0).all():
        x, y = shapely.get_x(out[present]), shapely.get_y(out[present])
        bad = ~(np.isfinite(x) & np.isfinite(y) & (np.abs(x) <= 180) & (np.abs(y) <= 90))
        if not bad.all():
            out[np.flatnonzero(present)[bad]] = None
            present[np.flatnonzero(present)[bad]] = False
    if present.any():
        coords = shapely.get_coordinates(out[present])
        try:
            check_lonlat(coords[:, 0], coords[:, 1], "geometry")
        except CoordinateRangeError as exc:
            raise CoordinateRangeError(
                f"{exc}; 数据可能是投影坐标 if the data are projected, name their CRS (e.g. --crs EPSG:4544)"
            ) from exc
    result = gpd.GeoDataFrame(gdf.drop(columns=gdf.geometry.name), geometry=out, crs="EPSG:4326")
    result.attrs["source_crs"] = source if isinstance(source, str) else source.to_string()
    return result


def _check_area_of_use(geoms: np.ndarray, present: np.ndarray, source, keep_invalid: bool) -> None:
    """Refuse coordinates their (EPSG) CRS cannot describe (see :func:`geo.crs.check_area_of_use`).

    With ``keep_invalid`` and points only, such points lose their geometry in place (``geoms`` and ``present``
    are changed) unless every point is one, which still raises.
    """
    rows = np.flatnonzero(present)
    if keep_invalid and (shapely.get_type_id(geoms[rows]) == 0).all():
        x, y = shapely.get_x(geoms[rows]), shapely.get_y(geoms[rows])
        bad = outside_area_of_use(x, y, source)
        if bad.all():
            check_area_of_use(x, y, source, "geometry")
        geoms[rows[bad]] = None
        present[rows[bad]] = False
        return
    coords = shapely.get_coordinates(geoms[rows])
    check_area_of_use(coords[:, 0], coords[:, 1], source, "geometry")


def _read_excel(raw: bytes) -> pd.DataFrame:
    try:
        return pd.read_excel(io.BytesIO(raw), sheet_name=0, dtype=str, keep_default_na=False)
    except (ValueError, KeyError, OSError, zipfile.BadZipFile) as exc:
        raise FileFormatError(f"Excel 文件无法读取 cannot read the workbook (.xlsx): {exc}") from exc


def read_points_table(
    path, crs=None, lon: str | None = None, lat: str | None = None, encoding=None, keep_invalid: bool = False
):
    """Read a CSV or Excel (``.xlsx``, first sheet) table with lon/lat (or x/y) or WKT columns into WGS84.

    Parameters
    ----------
    path : str or Path or file-like
        A file-like object is read as CSV.
    crs : CRS of the coordinates (default WGS84)
    lon, lat : str, optional
        Column names; detected from common names (``lon``/``lng``/``longitude``/``x``, ``lat``/``y``, 经度/纬度).
    encoding : str, optional
        Text encoding of a CSV; detected (UTF-8, else GB18030) when omitted.
    keep_invalid : bool, default False
        Keep rows whose coordinates are missing, not numbers, out of range or malformed WKT, with no geometry
        (``None``), instead of refusing the file. A file where every point is out of range is still refused.

    Returns
    -------
    geopandas.GeoDataFrame
    """
    raw = path.read() if hasattr(path, "read") else Path(path).read_bytes()
    if not raw.strip():
        raise FileFormatError("文件为空 the file is empty")
    if not hasattr(path, "read") and Path(path).suffix.lower() == ".xlsx":
        df = _read_excel(raw)
        df.columns = [str(c) for c in df.columns]
        return _points_from_columns(df, crs, lon, lat, keep_invalid)
    if encoding is None:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("gb18030", errors="strict")
    else:
        text = raw.decode(encoding)
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise FileFormatError(f"CSV 格式错误 malformed CSV: {exc}") from exc
    return _points_from_columns(df, crs, lon, lat, keep_invalid)


def _points_from_columns(df: pd.DataFrame, crs, lon, lat, keep_invalid: bool) -> gpd.GeoDataFrame:
    lower = {c.strip().lower(): c for c in df.columns}
    lon_col = lon or next((lower[n] for n in _LON_NAMES if n in lower), None)
    lat_col = lat or next((lower[n] for n in _LAT_NAMES if n in lower), None)
    wkt_col = next((lower[n] for n in _WKT_NAMES if n in lower), None)
    if lon_col and lat_col:
        for col in (lon_col, lat_col):
            if col not in df.columns:
                raise FileFormatError(f"列不存在 column {col!r} is not in the file")
        xs = pd.to_numeric(df[lon_col].str.strip(), errors="coerce").to_numpy()
        ys = pd.to_numeric(df[lat_col].str.strip(), errors="coerce").to_numpy()
        bad = ~(np.isfinite(xs) & np.isfinite(ys))
        if bad.any() and not keep_invalid:
            raise FileFormatError(
                f"第 {int(np.flatnonzero(bad)[0]) + 2} 行坐标不是数字 row has a non-numeric coordinate"
            )
        geoms = np.asarray(shapely.points(xs, ys), dtype=object)
        geoms[bad] = None
    elif wkt_col:
        text = df[wkt_col].astype(str).str.strip().to_numpy(dtype=object)
        text[text == ""] = None
        try:
            geoms = shapely.from_wkt(text, on_invalid="ignore" if keep_invalid else "raise")
        except shapely.errors.GEOSException as exc:
            raise FileFormatError(f"WKT 格式错误 malformed WKT in column {wkt_col!r}: {exc}") from exc
    else:
        raise FileFormatError("找不到坐标列 no lon/lat (or x/y) or WKT column: name them with --lon/--lat")
    gdf = gpd.GeoDataFrame(df, geometry=geoms, crs=None)
    return _to_wgs84(gdf, crs if crs is not None else WGS84, keep_invalid)


def read_vector(path, crs=None, encoding: str | None = None, layer=None) -> gpd.GeoDataFrame:
    """Read any supported vector file into a WGS84 GeoDataFrame.

    Parameters
    ----------
    path : str or Path
        ``.geojson``/``.json``, ``.gpkg``, ``.zip`` (zipped Shapefile), ``.shp``, ``.kml``, ``.csv`` or ``.xlsx``.
    crs : optional
        CRS of the coordinates, overriding the file's (see :func:`geo.crs.normalize_crs`).
    encoding : str, optional
        Attribute encoding for Shapefiles (detected when omitted).
    layer : str or int, optional
        Layer of a multi-layer file.

    Returns
    -------
    geopandas.GeoDataFrame
        In EPSG:4326; ``attrs["source_crs"]`` names the CRS converted from, ``attrs["encoding"]`` the encoding.

    Raises
    ------
    FileFormatError, EncodingError, CoordinateRangeError, UnknownCRSError
    """
    path = Path(path)
    if not path.exists():
        raise FileFormatError(f"文件不存在 file not found: {path}")
    if path.stat().st_size == 0:
        raise FileFormatError(f"{path.name}: 文件为空 the file is empty")
    if path.suffix.lower() in TABLE_SUFFIXES:
        return read_points_table(path, crs=crs, encoding=encoding)
    if _is_shapefile(path):
        encoding = encoding or _shapefile_encoding(path)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gdf = pyogrio.read_dataframe(path, layer=layer, encoding=encoding)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, pyogrio.errors.FieldError) as exc:
        raise FileFormatError(f"{path.name}: 无法读取 cannot read the file: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise EncodingError(f"{path.name}: 属性编码错误 text is not {encoding}: pass --encoding") from exc
    if not isinstance(gdf, gpd.GeoDataFrame) or len(gdf) == 0:
        raise FileFormatError(f"{path.name}: 没有要素 the file has no features")
    if path.suffix.lower() == ".kml":  # the KML driver maps name/description to Name/Description
        gdf = gdf.rename(columns={c: c.lower() for c in ("Name", "Description") if c.lower() not in gdf.columns})
    result = _to_wgs84(gdf, crs)
    result.attrs["encoding"] = encoding or "utf-8"
    result.attrs["warnings"] = [str(w.message) for w in caught]  # GDAL's notes, e.g. duplicate feature ids
    return result


def _dbf_names(columns) -> dict:
    """DBF field names are at most 10 characters: shorten long ones predictably (``parent_code`` → ``parent_cod``)."""
    mapping, used = {}, set()
    for name in columns:
        short = name if len(name) <= 10 else name[:10]
        k = 1
        while short in used:
            short = f"{name[:8]}_{k}"
            k += 1
        used.add(short)
        if short != name:
            mapping[name] = short
    return mapping


def write_vector(gdf: gpd.GeoDataFrame, path, crs=WGS84) -> Path:
    """Write a WGS84 GeoDataFrame to ``path``; the extension picks the format (see :data:`FORMATS`).

    A ``.zip`` holds a Shapefile written in UTF-8 with its ``.cpg``; ``.csv`` has a ``wkt`` column.
    The file appears only when complete (written to a temporary name, then renamed).
    """
    path = Path(path)
    driver = FORMATS.get(path.suffix.lower())
    if path.suffix.lower() == ".shp":
        raise FileFormatError("Shapefile 请导出为 .zip: write a Shapefile as a .zip (it is several files)")
    if driver is None:
        raise FileFormatError(f"不支持的格式 unsupported output format {path.suffix!r}; use {', '.join(FORMATS)}")
    out = gdf.copy()
    if normalize_crs(crs) != WGS84:
        out = gpd.GeoDataFrame(
            out.drop(columns=out.geometry.name), geometry=geometries_from_wgs84(out.geometry.values, crs), crs=None
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        if driver == "CSV":
            table = pd.DataFrame(out.drop(columns=out.geometry.name))
            table["wkt"] = shapely.to_wkt(np.asarray(out.geometry.values, dtype=object), rounding_precision=8)
            target = Path(tmp) / "out.csv"
            table.to_csv(target, index=False, encoding="utf-8-sig")
        elif path.suffix.lower() == ".zip":
            out = out.rename(columns=_dbf_names(out.columns))
            shp = Path(tmp) / (path.stem + ".shp")
            pyogrio.write_dataframe(out, shp, driver=driver, encoding="UTF-8")
            target = Path(tmp) / "out.zip"
            with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
                for part in sorted(Path(tmp).glob(path.stem + ".*")):
                    zf.write(part, part.name)
        else:
            target = Path(tmp) / ("out" + path.suffix.lower())
            try:
                pyogrio.write_dataframe(out, target, driver=driver)
            except Exception as exc:  # noqa: BLE001 - GDAL raises many types; report them as one
                raise GeoError(f"写入失败 cannot write {path.name}: {exc}") from exc
        os.replace(target, path)
    return path
