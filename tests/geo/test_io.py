import zipfile

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from geo.errors import CoordinateRangeError, FileFormatError, UnknownCRSError
from geo.io import detect_dbf_encoding, read_points_table, read_vector, write_vector

NAMES = ["桂花社区第一网格", "银杏社区·二", "海棠"]


@pytest.fixture
def frame():
    geoms = [shapely.box(104.0 + i * 0.01, 30.6, 104.01 + i * 0.01, 30.61) for i in range(3)]
    return gpd.GeoDataFrame({"code": ["001", "002", "003"], "name": NAMES}, geometry=geoms, crs="EPSG:4326")


def _zip_shapefile(frame, tmp_path, encoding, keep_cpg):
    folder = tmp_path / "shp"
    folder.mkdir()
    pyogrio.write_dataframe(frame, folder / "grids.shp", encoding=encoding)
    archive = tmp_path / "grids.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in folder.iterdir():
            if part.suffix == ".cpg" and not keep_cpg:
                continue
            zf.write(part, part.name)
    return archive


@pytest.mark.parametrize("encoding", ["GBK", "UTF-8"])
def test_zipped_shapefile_without_cpg_detects_encoding(frame, tmp_path, encoding):
    archive = _zip_shapefile(frame, tmp_path, encoding, keep_cpg=False)
    with zipfile.ZipFile(archive) as zf:
        assert not any(n.endswith(".cpg") for n in zf.namelist())
    gdf = read_vector(archive)
    assert gdf["name"].tolist() == NAMES
    assert gdf.attrs["encoding"] == ("gb18030" if encoding == "GBK" else "utf-8")


def test_dbf_encoding_detection_rules():
    header = bytearray(32)
    header[8:10] = (32).to_bytes(2, "little")
    assert detect_dbf_encoding(bytes(header) + "桂花".encode("gbk")) == "gb18030"
    assert detect_dbf_encoding(bytes(header) + "桂花".encode()) == "utf-8"
    assert detect_dbf_encoding(b"", cpg="936") == "gbk"


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".zip", ".kml", ".csv"])
def test_round_trip_every_format(frame, tmp_path, suffix):
    path = write_vector(frame, tmp_path / f"out{suffix}")
    back = read_vector(path)
    assert back["name"].tolist() == NAMES
    for a, b in zip(back.geometry, frame.geometry, strict=True):
        assert shapely.equals_exact(shapely.normalize(a), shapely.normalize(b), tolerance=1e-7)


def test_crs_override_converts_gcj02(frame, tmp_path):
    path = write_vector(frame, tmp_path / "g.geojson")
    gdf = read_vector(path, crs="gcj02")
    shift = np.asarray(shapely.get_coordinates(frame.geometry)) - shapely.get_coordinates(gdf.geometry)
    assert 0.001 < np.abs(shift).max() < 0.01  # a few hundred metres
    with pytest.raises(UnknownCRSError):
        read_vector(path, crs="mars")


def test_projected_data_without_crs_is_refused(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("x,y\n400000,3390000\n", "utf-8")
    with pytest.raises(CoordinateRangeError, match="EPSG"):
        read_vector(path)
    gdf = read_vector(path, crs="EPSG:4544")
    assert 103 < gdf.geometry.x[0] < 105


def test_bad_files_give_clear_errors(tmp_path):
    empty = tmp_path / "e.geojson"
    empty.write_text("")
    with pytest.raises(FileFormatError, match="empty"):
        read_vector(empty)
    broken = tmp_path / "b.geojson"
    broken.write_text('{"type": "FeatureCollection", "features": [')
    with pytest.raises(FileFormatError):
        read_vector(broken)
    notzip = tmp_path / "n.zip"
    notzip.write_bytes(b"PK not really")
    with pytest.raises(FileFormatError):
        read_vector(notzip)
    with pytest.raises(FileFormatError, match="not found"):
        read_vector(tmp_path / "missing.gpkg")


def test_csv_columns_detected_and_gbk_decoded(tmp_path):
    path = tmp_path / "pts.csv"
    path.write_bytes("名称,经度,纬度\n桂花,104.08,30.65\n".encode("gbk"))
    gdf = read_points_table(path)
    assert gdf["名称"].tolist() == ["桂花"] and gdf.geometry.x[0] == 104.08
    bad = tmp_path / "bad.csv"
    bad.write_text("lon,lat\n104.08,abc\n")
    with pytest.raises(FileFormatError, match="non-numeric"):
        read_points_table(bad)


def test_wrong_explicit_encoding_is_a_clear_error(frame, tmp_path):
    from geo.errors import EncodingError

    pyogrio.write_dataframe(frame, tmp_path / "a.shp", encoding="GBK")
    (tmp_path / "a.cpg").unlink(missing_ok=True)
    with pytest.raises(EncodingError, match="--encoding"):
        read_vector(tmp_path / "a.shp", encoding="utf-8")
    assert read_vector(tmp_path / "a.shp")["name"].tolist() == NAMES


def test_excel_tables_are_read_like_csv(tmp_path):
    import pandas as pd

    path = tmp_path / "sites.xlsx"
    pd.DataFrame({"name": ["甲", "乙"], "wkt": ["POINT (104.08 30.65)", "LINESTRING (104 30, 104.1 30.1)"]}).to_excel(
        path, index=False
    )
    gdf = read_vector(path)
    assert gdf["name"].tolist() == ["甲", "乙"] and gdf.geometry.geom_type.tolist() == ["Point", "LineString"]
    pd.DataFrame({"经度": ["104.08", ""], "纬度": ["30.65", "30.6"]}).to_excel(path, index=False)
    with pytest.raises(FileFormatError, match="row"):
        read_points_table(path)
    kept = read_points_table(path, keep_invalid=True)
    assert kept.geometry.iloc[0].equals(shapely.Point(104.08, 30.65)) and kept.geometry.iloc[1] is None


def test_lonlat_files_declared_projected_are_refused(frame, tmp_path):
    """Outside test, item 11: `import-areas … --crs EPSG:4544` on lon/lat data stored a polygon at lat 0.0003."""
    path = write_vector(frame, tmp_path / "g.geojson")
    for code in ("EPSG:4544", "EPSG:3857"):
        with pytest.raises(CoordinateRangeError, match="look like longitude/latitude"):
            read_vector(path, crs=code)
    table = tmp_path / "p.csv"
    table.write_text("lon,lat\n104.06,30.65\n104.07,30.66\n", "utf-8")
    with pytest.raises(CoordinateRangeError, match="look like longitude/latitude"):
        read_points_table(table, crs="EPSG:3857", keep_invalid=True)  # every point: refused, not "invalid"
    mixed = tmp_path / "m.csv"
    x, y = 400000, 3390000
    mixed.write_text(f"x,y\n{x},{y}\n104.06,30.65\n", "utf-8")
    rows = read_points_table(mixed, crs="EPSG:4544", keep_invalid=True)
    assert rows.geometry.iloc[0] is not None and rows.geometry.iloc[1] is None  # the stray row is invalid
