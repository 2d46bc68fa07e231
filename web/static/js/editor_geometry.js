// Geometry helpers of the planners' editor, on GeoJSON coordinates ([lon, lat]): pure functions, no map.
(function () {
  "use strict";
  var EPS = 1e-12;
  function same(a, b) { return Math.abs(a[0] - b[0]) < EPS && Math.abs(a[1] - b[1]) < EPS; }
  // whether p lies on the segment a-b (a neighbour's edge passing through a vertex it does not have: a T-junction)
  function onSegment(p, a, b) {
    var dx = b[0] - a[0], dy = b[1] - a[1], length = Math.sqrt(dx * dx + dy * dy);
    if (length === 0) { return false; }
    var cross = Math.abs(dx * (p[1] - a[1]) - dy * (p[0] - a[0])) / length;
    var t = ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / (length * length);
    return cross < 1e-9 && t > 0 && t < 1;
  }
  function ringsOf(geometry) { return geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates; }
  function inRing(x, y, ring) {
    var inside = false;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
      if ((yi > y) !== (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) { inside = !inside; }
    }
    return inside;
  }
  function contains(geometry, x, y) {
    return ringsOf(geometry).some(function (polygon) {
      if (!inRing(x, y, polygon[0])) { return false; }
      for (var h = 1; h < polygon.length; h++) { if (inRing(x, y, polygon[h])) { return false; } }
      return true;
    });
  }
  function onOutline(p, rings) {
    return rings.some(function (ring) {
      for (var i = 1; i < ring.length; i++) { if (same(p, ring[i]) || onSegment(p, ring[i - 1], ring[i])) { return true; } }
      return same(p, ring[0]);
    });
  }
  function nearestOn(p, rings) {
    var best = null, bestD = Infinity;
    rings.forEach(function (ring) {
      for (var i = 1; i < ring.length; i++) {
        var a = ring[i - 1], b = ring[i], dx = b[0] - a[0], dy = b[1] - a[1], l2 = dx * dx + dy * dy;
        var t = l2 ? Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / l2)) : 0;
        var q = t === 0 ? a.slice() : t === 1 ? b.slice() : [a[0] + t * dx, a[1] + t * dy];
        var d = (q[0] - p[0]) * (q[0] - p[0]) + (q[1] - p[1]) * (q[1] - p[1]);
        if (d < bestD) { bestD = d; best = q; }
      }
    });
    return best || p;
  }
  function replaceVertex(geometry, from, to) {
    ringsOf(geometry).forEach(function (polygon) {
      polygon.forEach(function (ring) { ring.forEach(function (q, i) { if (same(q, from)) { ring[i] = to.slice(); } }); });
    });
  }
  window.WeigeEditorGeometry = {
    same: same, onSegment: onSegment, ringsOf: ringsOf, inRing: inRing, contains: contains,
    onOutline: onOutline, nearestOn: nearestOn, replaceVertex: replaceVertex
  };
}());
