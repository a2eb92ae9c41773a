"""Configuration of the interferogram-stack pipeline (SLCs to a StaMPS export), shared by backends.

One :class:`IfgStackOptions` describes a single-reference Sentinel-1 IW stack: the reference
acquisition, the secondaries, the sub-swaths and polarisation, the area of interest, the DEM,
the orbits, the output folder and how to compute it.  It is the one definition of these names,
defaults, ranges and checks: the native engine (:func:`snapstamps.workflows.ifg_stack.run_ifg_stack`)
and the SNAP backend (:mod:`snapstamps.backends.snap`, which turns it into gpt graphs) read it,
and the ``ifg-stack`` and ``snap-graphs`` commands and the interferogram-stack process build it.

An acquisition is one or more *slices* (SLC products of the same date and track); slices of
one date are assembled before the split.  Products may be given as ``.zip``, ``.SAFE`` folders or
``manifest.safe`` paths; their date is read from the Sentinel-1 product name
(``..._YYYYMMDDTHHMMSS_...``), never from fixed character positions.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import ParameterError

Subswath = Literal["IW1", "IW2", "IW3"]
Polarisation = Literal["VV", "VH", "HH", "HV"]
IfgBackend = Literal["native", "snap", "auto"]

#: DEM names SNAP resolves itself (auto-download or pre-seeded under ``auxdata/dem``).
SNAP_DEM_NAMES: tuple[str, ...] = (
    "SRTM 1Sec HGT",
    "SRTM 3Sec",
    "Copernicus 30m Global DEM",
    "Copernicus 90m Global DEM",
    "GETASSE30",
    "ACE30",
    "ACE2_5Min",
    "CDEM",
)

#: SNAP's names of the Sentinel-1 orbit types (Apply-Orbit-File ``orbitType``).
ORBIT_TYPES: dict[str, str] = {
    "precise": "Sentinel Precise (Auto Download)",
    "restituted": "Sentinel Restituted (Auto Download)",
}

_DATE_RE = re.compile(r"_(\d{8})T\d{6}_")
_DEM_FILE_SUFFIXES = {".tif", ".tiff", ".hgt", ".dem", ".vrt", ".img", ".zip", ".bil", ".dt2", ".asc"}


def acquisition_date(product: Path) -> dt.date:
    """Sensing date of a Sentinel-1 product from its name (zip, SAFE folder or manifest.safe).

    Raises :class:`~snapstamps.errors.ParameterError` naming the file when no date is found.
    """
    p = Path(product)
    name = p.parent.name if p.name.lower() == "manifest.safe" else p.name
    m = _DATE_RE.search(name)
    if not m:
        raise ParameterError(
            f"{product}: cannot read the acquisition date from the name "
            "(expected a Sentinel-1 product name such as S1A_IW_SLC__1SDV_20200101T052305_...)"
        )
    s = m.group(1)
    try:
        return dt.date(int(s[:4]), int(s[4:6]), int(s[6:8]))
    except ValueError as exc:
        raise ParameterError(f"{product}: invalid date {s} in the name") from exc


def check_bbox(bbox: Any) -> tuple[float, float, float, float]:
    """``bbox`` as four floats W S E N; raise ValueError unless -180 <= W < E <= 180 and -90 <= S < N <= 90.

    The one bbox check of the project: :class:`IfgStackOptions`, the ``ifg-stack``,
    ``ifg-stack-dem`` and ``snap-graphs`` commands and the interferogram-stack process use it.
    """
    try:
        w, s, e, n = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise ValueError(f"{bbox!r}: expected four numbers W S E N") from None
    if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
        raise ValueError(f"[{w}, {s}, {e}, {n}]: expected W < E and S < N in lon/lat degrees")
    return w, s, e, n


def is_dem_file(dem: str) -> bool:
    """True when ``dem`` names a DEM file rather than one of SNAP's DEM names."""
    if dem in SNAP_DEM_NAMES:
        return False
    p = Path(dem)
    return p.suffix.lower() in _DEM_FILE_SUFFIXES or "/" in dem or p.exists()


class GptOptions(BaseModel):
    """How ``gpt`` is run: executable, threads, tile cache, JVM heap, time limit."""

    model_config = ConfigDict(extra="forbid")

    executable: str | None = Field(None, description="gpt path; default: $SNAP_HOME/bin/gpt, then gpt on PATH")
    threads: int | None = Field(None, ge=1, description="gpt -q (default: all cores)")
    cache: str | None = Field("8G", pattern=r"^\d+[KMG]?$", description="gpt -c, JAI tile cache (e.g. 16G)")
    heap: str | None = Field(None, pattern=r"^\d+[kmgKMG]$", description="JVM -Xmx (e.g. 24G)")
    tile_size: int | None = Field(512, ge=64, description="snap.jai.defaultTileSize, pinned for reproducibility")
    timeout_s: float = Field(6 * 3600.0, gt=0, description="seconds one gpt call may run before it is killed")
    aux_data_path: Path | None = Field(None, description="SNAP AuxDataPath (offline orbits, DEM tiles, EGM96)")


class IfgStackOptions(BaseModel):
    """A single-reference Sentinel-1 IW interferogram stack and how to compute it.

    ``reference`` is one product or the consecutive slices of the reference date; among
    ``secondaries``, products of one date are slices of that date and are assembled.  The native
    engine takes one sub-swath (:attr:`subswath`), a DEM file or ``auto`` (GLO-30 downloaded into
    ``OUT/dem/``) and streams blocks of ``block_lines`` output lines (memory is bounded by a few
    blocks); ``download_orbits`` fetches missing EOF files into ``orbits_dir`` (default
    ``OUT/orbits``), and ``require_precise_orbits`` makes a missing EOF file an error instead of
    the annotation-orbit fallback.  ``subswath=`` and ``orbits=`` are accepted for
    ``subswaths=[...]`` and ``orbits_dir=``.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    reference: list[Path] = Field(..., min_length=1, description="slice(s) of the reference acquisition")
    secondaries: list[Path] = Field(..., min_length=1, description="secondary products; slices of a date are assembled")
    subswaths: list[Subswath] = Field(..., min_length=1, description="IW sub-swaths, merged when several")
    polarisation: Polarisation = Field("VV", description="polarisation")
    bbox: tuple[float, float, float, float] | None = Field(
        None, description="area of interest W S E N (lon/lat degrees): bursts and the final subset"
    )
    bursts: tuple[int, int] | None = Field(
        None, description="first and last burst (1-based) when no bbox is given; default all"
    )
    subset_to_aoi: bool = Field(True, description="crop the debursted products to the bbox")
    dem: str = Field("SRTM 1Sec HGT", description="DEM file (GeoTIFF; geoid heights converted), 'auto' (GLO-30) or a SNAP DEM name")
    dem_nodata: float = Field(0.0, description="no-data value of an external DEM")
    dem_resampling: str = "BILINEAR_INTERPOLATION"
    image_resampling: str = "BILINEAR_INTERPOLATION"
    mask_out_area_without_elevation: bool = False
    orbit_type: Literal["precise", "restituted"] = "precise"
    orbit_continue_on_fail: bool = Field(False, description="keep annotated orbits when no orbit file is found")
    orbits_dir: Path | None = Field(None, description="folder of orbit files (EOF; POEORB/ and RESORB/ trees for SNAP)")
    download_orbits: bool = Field(False, description="download the EOF files not in orbits_dir (sentineleof)")
    require_precise_orbits: bool = Field(False, description="a date without an EOF file is an error, not the annotation orbit")
    esd: bool | None = Field(None, description="Enhanced Spectral Diversity; None = on unless a single burst")
    esd_coherence_threshold: float = Field(0.15, gt=0, lt=1)
    deramp: bool = Field(True, description="TOPS deramp before and reramp after resampling (native)")
    taps: int = Field(16, ge=4, description="sinc resampling kernel length (native)")
    geometry_step: int = Field(32, ge=1, description="pixels between the coarse geometry nodes (native)")
    block_lines: int = Field(256, ge=8, description="output lines processed at a time (native; bounds memory)")
    out: Path = Field(..., description="output folder (INSAR_<reference>/ and intermediates)")
    backend: IfgBackend = Field("native", description="native (this package's engine), snap (SNAP gpt) or auto (snap when gpt is found)")
    snap_version: str | None = Field(None, description="SNAP version the graphs target (e.g. 9.0); None = detect")
    gpt: GptOptions = Field(default_factory=GptOptions)
    keep_intermediate: bool = Field(True, description="keep split/, coreg/ and ifg/ after the export")

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        """``subswath=`` (one) and ``orbits=``; a single ``reference`` path; a DEM given as a Path."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "subswath" in data:
            data["subswaths"] = [data.pop("subswath")]
        if "orbits" in data:
            data["orbits_dir"] = data.pop("orbits")
        if isinstance(data.get("reference"), (str, Path)):
            data["reference"] = [data["reference"]]
        if isinstance(data.get("dem"), Path):
            data["dem"] = str(data["dem"])
        return data

    @field_validator("bbox")
    @classmethod
    def _check_bbox(cls, v: tuple[float, float, float, float] | None) -> tuple[float, float, float, float] | None:
        return None if v is None else check_bbox(v)

    @field_validator("bursts")
    @classmethod
    def _check_bursts(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        if v is not None and not 1 <= v[0] <= v[1]:
            raise ValueError("bursts must be FIRST LAST with 1 <= FIRST <= LAST")
        return v

    @field_validator("subswaths")
    @classmethod
    def _sorted_subswaths(cls, v: list[str]) -> list[str]:
        return sorted(set(v))

    @field_validator("dem")
    @classmethod
    def _check_dem(cls, v: str) -> str:
        if v.strip().lower() == "auto":
            return "auto"
        if not is_dem_file(v) and v not in SNAP_DEM_NAMES:
            raise ValueError(f"unknown DEM {v!r}: give a DEM file, auto, or one of {', '.join(SNAP_DEM_NAMES)}")
        return v

    @field_validator("snap_version")
    @classmethod
    def _check_version(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"\d+(\.\d+){0,2}", v):
            raise ValueError("snap_version must look like 9, 9.0 or 9.0.4")
        return v

    @model_validator(mode="after")
    def _check_dates(self) -> "IfgStackOptions":
        if self.backend == "native":
            return self  # the native engine reads the dates from the annotation (it needs no dated names)
        ref_dates = {acquisition_date(p) for p in self.reference}
        if len(ref_dates) != 1:
            raise ValueError(f"the reference slices have several dates: {sorted(map(str, ref_dates))}")
        if self.reference_date in {acquisition_date(p) for p in self.secondaries}:
            raise ValueError(f"a secondary has the reference date {self.reference_date}")
        return self

    # ------------------------------------------------------------------ derived
    @property
    def subswath(self) -> str:
        """The one sub-swath of a native run (ParameterError when several are given)."""
        if len(self.subswaths) != 1:
            raise ParameterError(f"the native engine runs one sub-swath at a time, got {', '.join(self.subswaths)}")
        return self.subswaths[0]

    @property
    def reference_date(self) -> dt.date:
        """Date of the reference acquisition."""
        return acquisition_date(self.reference[0])

    def acquisitions(self) -> dict[dt.date, list[Path]]:
        """Every acquisition (reference included) as date -> sorted slice list, in date order."""
        acq: dict[dt.date, list[Path]] = {self.reference_date: sorted(self.reference)}
        for p in self.secondaries:
            acq.setdefault(acquisition_date(p), []).append(p)
        return {d: sorted(acq[d]) for d in sorted(acq)}

    def secondary_dates(self) -> list[dt.date]:
        """Secondary dates in order."""
        return [d for d in self.acquisitions() if d != self.reference_date]

    @property
    def snap_dem_name(self) -> str:
        """``demName`` for SNAP: ``auto`` is SNAP's own Copernicus 30 m download (its external DEMs are
        taken as geoid heights, so the ellipsoidal GLO-30 GeoTIFF of the native engine would be
        corrected twice)."""
        return "Copernicus 30m Global DEM" if self.dem == "auto" else self.dem

    @property
    def external_dem(self) -> bool:
        """True when :attr:`dem` is a file."""
        return is_dem_file(self.dem)

    def aoi_wkt(self) -> str | None:
        """The bbox as a closed WKT polygon (lon lat order), or None."""
        if self.bbox is None:
            return None
        w, s, e, n = (_num(x) for x in self.bbox)
        return f"POLYGON(({w} {s}, {e} {s}, {e} {n}, {w} {n}, {w} {s}))"

    def insar_dir(self) -> Path:
        """The export folder ``OUT/INSAR_<reference YYYYMMDD>``."""
        return Path(self.out) / f"INSAR_{self.reference_date.strftime('%Y%m%d')}"

    @classmethod
    def build(cls, **kwargs: Any) -> "IfgStackOptions":
        """Validate keyword arguments; errors become one-line :class:`ParameterError`."""
        try:
            return cls(**kwargs)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"]) or "configuration"
            raise ParameterError(f"ifg-stack {loc}: {err['msg']}") from exc


def _num(x: float) -> str:
    """Shortest exact-enough text of a coordinate (no trailing zeros)."""
    return f"{x:.8f}".rstrip("0").rstrip(".")
