"""Weige's spatial engine: pure, vectorised functions over shapely, geopandas and pyproj.

Nothing here holds state or touches storage; file reading and writing live in :mod:`geo.io`
as explicit helpers.
"""
