// WGS84 <-> GCJ-02 (AMap), the same published algorithm as geo/crs.py (Krasovsky ellipsoid), inverse by
// fixed-point iteration. Exposes window.Gcj02 = {toGcj, toWgs, outOfChina, crs(L)}; lon/lat order in the functions.
(function (root) {
  "use strict";
  var A = 6378245.0;
  var EE = 0.00669342162296594323;
  var PI = Math.PI;

  function outOfChina(lon, lat) {
    return lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271;
  }

  function delta(lon, lat) {
    var x = lon - 105.0, y = lat - 35.0, xpi = x * PI, ypi = y * PI;
    var common = (20.0 * Math.sin(6.0 * xpi) + 20.0 * Math.sin(2.0 * xpi)) * 2.0 / 3.0;
    var dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
    dlat += common;
    dlat += (20.0 * Math.sin(ypi) + 40.0 * Math.sin(ypi / 3.0)) * 2.0 / 3.0;
    dlat += (160.0 * Math.sin(ypi / 12.0) + 320.0 * Math.sin(ypi / 30.0)) * 2.0 / 3.0;
    var dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
    dlon += common;
    dlon += (20.0 * Math.sin(xpi) + 40.0 * Math.sin(xpi / 3.0)) * 2.0 / 3.0;
    dlon += (150.0 * Math.sin(xpi / 12.0) + 300.0 * Math.sin(xpi / 30.0)) * 2.0 / 3.0;
    var radlat = lat / 180.0 * PI;
    var magic = 1.0 - EE * Math.sin(radlat) * Math.sin(radlat);
    var sqrtmagic = Math.sqrt(magic);
    dlat = (dlat * 180.0) / ((A * (1.0 - EE)) / (magic * sqrtmagic) * PI);
    dlon = (dlon * 180.0) / (A / sqrtmagic * Math.cos(radlat) * PI);
    if (outOfChina(lon, lat)) { return [0, 0]; }
    return [dlon, dlat];
  }

  // WGS84 [lon, lat] -> GCJ-02 [lon, lat] (unchanged outside China)
  function toGcj(lon, lat) {
    var d = delta(lon, lat);
    return [lon + d[0], lat + d[1]];
  }

  // GCJ-02 [lon, lat] -> WGS84 [lon, lat]: solve toGcj(x) == (lon, lat) by fixed-point iteration
  function toWgs(lon, lat) {
    var x = lon, y = lat;
    for (var i = 0; i < 30; i++) {
      var f = toGcj(x, y), ex = lon - f[0], ey = lat - f[1];
      x += ex; y += ey;
      if (Math.abs(ex) < 1e-10 && Math.abs(ey) < 1e-10) { break; }
    }
    return [x, y];
  }

  // A Leaflet CRS whose pixels are web mercator of GCJ-02 (AMap's tile grid) while every LatLng stays WGS84:
  // layers given WGS84 are drawn where AMap shows the place, and events report WGS84.
  function crs(L) {
    var merc = L.Projection.SphericalMercator;
    var projection = {
      R: merc.R,
      MAX_LATITUDE: merc.MAX_LATITUDE,
      bounds: merc.bounds,
      project: function (latlng) {
        var g = toGcj(latlng.lng, latlng.lat);
        return merc.project(L.latLng(g[1], g[0]));
      },
      unproject: function (point) {
        var ll = merc.unproject(point), w = toWgs(ll.lng, ll.lat);
        return L.latLng(w[1], w[0]);
      }
    };
    return L.extend({}, L.CRS.EPSG3857, { code: "GCJ02", projection: projection });
  }

  root.Gcj02 = { toGcj: toGcj, toWgs: toWgs, outOfChina: outOfChina, crs: crs };
})(window);
