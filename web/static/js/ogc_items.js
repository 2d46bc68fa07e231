// OGC API – Features page: the features of this page on a Leaflet map (no base map: no other host is used).
(function () {
  const features = JSON.parse(document.getElementById('ogc-features-data').textContent);
  const map = L.map('ogc-map', { attributionControl: false });
  const layer = L.geoJSON({ type: 'FeatureCollection', features: features }, {
    style: { color: '#1f3a5f', weight: 1, fillOpacity: 0.2 },
    pointToLayer: (feature, latlng) => L.circleMarker(latlng, { radius: 4, color: '#b00020' }),
  }).addTo(map);
  const bounds = layer.getBounds();
  if (bounds.isValid()) {
    map.fitBounds(bounds, { padding: [10, 10] });
  } else {
    map.setView([30.65, 104.08], 14);
  }
})();
