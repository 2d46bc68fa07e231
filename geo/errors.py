"""Errors raised by the spatial engine: one base class, small specific subclasses."""

__all__ = [
    "GeoError",
    "UnknownCRSError",
    "CoordinateRangeError",
    "GeometryTypeError",
    "FileFormatError",
    "EncodingError",
]


class GeoError(ValueError):
    """Base class of every error raised by :mod:`geo`; the message names the problem."""

    code = "geo_error"


class UnknownCRSError(GeoError):
    """A coordinate reference system name or code that is not recognised."""

    code = "unknown_crs"


class CoordinateRangeError(GeoError):
    """Coordinates outside the valid range of their CRS (often latitude and longitude swapped)."""

    code = "coordinate_out_of_range"


class GeometryTypeError(GeoError):
    """A geometry of the wrong type or an empty / missing geometry."""

    code = "bad_geometry"


class FileFormatError(GeoError):
    """A file that cannot be read: empty, malformed, or of an unsupported format."""

    code = "bad_file"


class EncodingError(GeoError):
    """Text attributes that cannot be decoded in the named or detected encoding."""

    code = "bad_encoding"
