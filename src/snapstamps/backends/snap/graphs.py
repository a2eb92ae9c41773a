"""SNAP gpt graphs of the Sentinel-1 PSI chain, generated from an :class:`IfgStackOptions`.

The graphs are written by this module with :mod:`xml.etree.ElementTree` from the operator and
parameter facts of ``shared/reference/snap-chain.md`` §2; no snap2stamps template is used.

Three kinds of graph, each with concrete (absolute) paths so that a user can run them with a
plain ``gpt <graph.xml>``:

``split``  (per acquisition and sub-swath)
    ``Read → TOPSAR-Split → Apply-Orbit-File → Write`` for one slice, or
    ``Read, Read(2), … → SliceAssembly → Apply-Orbit-File → TOPSAR-Split → Write`` when the date
    has several slices (all of them, not only the first two).
``coreg_ifg``  (per secondary and sub-swath)
    ``Read(ref), Read(2)(sec) → Back-Geocoding → Enhanced-Spectral-Diversity`` then two branches:
    ``Interferogram → TOPSAR-Deburst → [TopoPhaseRemoval → Subset] → Write`` (``ifg/``) and
    ``TOPSAR-Deburst(2) → [Subset(2)] → Write(2)`` (``coreg/``).  The bracketed nodes are present
    for a single sub-swath; with several, they move to the export graph after TOPSAR-Merge.
``export``  (per secondary)
    single sub-swath: ``Read(coreg), Read(2)(ifg) → StampsExport``; several:
    ``ProductSet-Reader → TOPSAR-Merge → [Subset]`` and
    ``ProductSet-Reader(2) → TOPSAR-Merge(2) → TopoPhaseRemoval → [Subset(2)]`` into StampsExport
    (coreg first, interferogram second: StampsExport requires that order).

SNAP versions (:class:`SnapProfile`): ESD's ``useSuppliedShifts`` (SNAP 6) became
``useSuppliedRangeShift``/``useSuppliedAzimuthShift`` in SNAP 7; SNAP 8 added the network-ESD
parameters; SNAP 14 renamed the band tags ``mst``/``slv`` to ``ref``/``sec``.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ...errors import ParameterError
from ...ifg.config import ORBIT_TYPES, IfgStackOptions

PARAMETERS_CLASS = "com.bc.ceres.binding.dom.XppDomElement"
#: SNAP version assumed when none is given or detected (snap2stamps v2's target).
DEFAULT_SNAP_VERSION = "9.0"
#: Last burst index meaning "every burst" for TOPSAR-Split when the AOI selects bursts.
ALL_BURSTS = 9999


@dataclass(frozen=True)
class SnapProfile:
    """What the graphs must do differently for one SNAP version."""

    version: tuple[int, ...]

    @classmethod
    def parse(cls, version: str | None) -> "SnapProfile":
        """Profile of a version string such as ``"9"``, ``"9.0.4"`` or ``"14.0.0"`` (None: default)."""
        text = version or DEFAULT_SNAP_VERSION
        m = re.match(r"^\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?", text)
        if not m:
            raise ParameterError(f"cannot read a SNAP version from {text!r}")
        nums = tuple(int(g) for g in m.groups() if g is not None)
        if nums[0] < 6:
            raise ParameterError(f"SNAP {text} is too old: the StaMPS export needs SNAP 6 or later")
        return cls(nums)

    @property
    def major(self) -> int:
        """Major version number."""
        return self.version[0]

    @property
    def esd_split_shifts(self) -> bool:
        """SNAP ≥ 7: ESD has separate range/azimuth supplied-shift parameters."""
        return self.major >= 7

    @property
    def esd_network(self) -> bool:
        """SNAP ≥ 8: ESD has the network-ESD parameters."""
        return self.major >= 8

    @property
    def reference_tag(self) -> str:
        """Band-name tag of the reference image in coregistered stacks (``ref`` from SNAP 14)."""
        return "ref" if self.major >= 14 else "mst"

    @property
    def secondary_tag(self) -> str:
        """Band-name tag of the secondary image (``sec`` from SNAP 14)."""
        return "sec" if self.major >= 14 else "slv"

    def __str__(self) -> str:
        return ".".join(str(v) for v in self.version)


# ---------------------------------------------------------------------- XML builder
def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return ",".join(_text(v) for v in value)
    return str(value)


class Graph:
    """A gpt graph under construction: nodes with operators, sources and parameters."""

    def __init__(self, graph_id: str) -> None:
        self.root = ET.Element("graph", id=graph_id)
        ET.SubElement(self.root, "version").text = "1.0"
        self._ids: set[str] = set()

    def node(self, node_id: str, operator: str, sources: list[str] | None = None, **params: Any) -> str:
        """Add a node; ``sources`` in order (``sourceProduct``, ``sourceProduct.1``, …); None params are left out."""
        if node_id in self._ids:
            raise ValueError(f"duplicate node id {node_id}")
        for s in sources or []:
            if s not in self._ids:
                raise ValueError(f"node {node_id}: unknown source {s}")
        self._ids.add(node_id)
        n = ET.SubElement(self.root, "node", id=node_id)
        ET.SubElement(n, "operator").text = operator
        src = ET.SubElement(n, "sources")
        for k, s in enumerate(sources or []):
            ET.SubElement(src, "sourceProduct" if k == 0 else f"sourceProduct.{k}", refid=s)
        par = ET.SubElement(n, "parameters", {"class": PARAMETERS_CLASS})
        for name, value in params.items():
            if value is not None:
                ET.SubElement(par, name).text = _text(value)
        return node_id

    def to_xml(self) -> str:
        """The graph as an indented XML document."""
        tree = ET.ElementTree(self.root)
        ET.indent(tree, space="  ")
        return ET.tostring(self.root, encoding="unicode", xml_declaration=False) + "\n"


def _abs(p: Path | str) -> str:
    return str(Path(p).expanduser().resolve())


def _dem_params(cfg: IfgStackOptions) -> dict[str, Any]:
    if cfg.external_dem:
        return {
            "demName": "External DEM",
            "externalDEMFile": _abs(cfg.dem),
            "externalDEMNoDataValue": float(cfg.dem_nodata),
        }
    return {"demName": cfg.snap_dem_name, "externalDEMNoDataValue": float(cfg.dem_nodata)}


def _write(g: Graph, source: str, output: Path, node_id: str = "Write") -> str:
    return g.node(node_id, "Write", [source], file=_abs(output), formatName="BEAM-DIMAP")


def _orbit(g: Graph, cfg: IfgStackOptions, source: str) -> str:
    return g.node(
        "Apply-Orbit-File", "Apply-Orbit-File", [source],
        orbitType=ORBIT_TYPES[cfg.orbit_type], polyDegree=3, continueOnFail=cfg.orbit_continue_on_fail,
    )


def _split(g: Graph, cfg: IfgStackOptions, source: str, subswath: str) -> str:
    wkt = cfg.aoi_wkt()
    if wkt is not None:
        first, last = 1, ALL_BURSTS
    elif cfg.bursts is not None:
        first, last = cfg.bursts
    else:
        first, last = 1, ALL_BURSTS
    return g.node(
        "TOPSAR-Split", "TOPSAR-Split", [source],
        subswath=subswath, selectedPolarisations=cfg.polarisation,
        firstBurstIndex=first, lastBurstIndex=last, wktAoi=wkt,
    )


def split_graph(cfg: IfgStackOptions, slices: list[Path], subswath: str, output: Path) -> str:
    """Split + orbit graph of one acquisition (assembling its slices when there are several)."""
    if not slices:
        raise ParameterError("an acquisition needs at least one product")
    g = Graph(f"split_{subswath}")
    reads = [g.node("Read" if k == 0 else f"Read({k + 1})", "Read", None, file=_abs(p)) for k, p in enumerate(slices)]
    if len(reads) == 1:
        last = _orbit(g, cfg, _split(g, cfg, reads[0], subswath))
    else:
        asm = g.node("SliceAssembly", "SliceAssembly", reads, selectedPolarisations=cfg.polarisation)
        last = _split(g, cfg, _orbit(g, cfg, asm), subswath)
    _write(g, last, output)
    return g.to_xml()


def _topo(g: Graph, cfg: IfgStackOptions, source: str) -> str:
    return g.node(
        "TopoPhaseRemoval", "TopoPhaseRemoval", [source],
        orbitDegree=3, **_dem_params(cfg), tileExtensionPercent="100",
        outputTopoPhaseBand=True, outputElevationBand=True, outputLatLonBands=True,
    )


def _subset(g: Graph, cfg: IfgStackOptions, source: str, node_id: str) -> str:
    return g.node(
        node_id, "Subset", [source],
        geoRegion=cfg.aoi_wkt(), subSamplingX=1, subSamplingY=1, fullSwath=False, copyMetadata=True,
    )


def do_subset(cfg: IfgStackOptions) -> bool:
    """True when the debursted products are cropped to the AOI."""
    return cfg.bbox is not None and cfg.subset_to_aoi


def use_esd(cfg: IfgStackOptions) -> bool:
    """ESD is on unless switched off or a single burst is processed (it needs burst overlaps)."""
    if cfg.esd is not None:
        return cfg.esd
    return not (cfg.bbox is None and cfg.bursts is not None and cfg.bursts[0] == cfg.bursts[1])


def _esd_params(cfg: IfgStackOptions, profile: SnapProfile) -> dict[str, Any]:
    p: dict[str, Any] = {
        "fineWinWidthStr": "512", "fineWinHeightStr": "512",
        "fineWinAccAzimuth": "16", "fineWinAccRange": "16", "fineWinOversampling": "128",
        "xCorrThreshold": 0.1, "cohThreshold": float(cfg.esd_coherence_threshold), "numBlocksPerOverlap": 10,
    }
    if profile.esd_split_shifts:
        p.update(useSuppliedRangeShift=False, overallRangeShift=0.0, useSuppliedAzimuthShift=False, overallAzimuthShift=0.0)
    else:
        p.update(useSuppliedShifts=False)
    if profile.esd_network:
        p.update(
            esdEstimator="Periodogram", weightFunc="Inv Quadratic", temporalBaselineType="Number of images",
            maxTemporalBaseline=4, integrationMethod="L1 and L2", doNotWriteTargetBands=False,
        )
    return p


def coreg_ifg_graph(
    cfg: IfgStackOptions, profile: SnapProfile, reference: Path, secondary: Path,
    ifg_out: Path, coreg_out: Path, single_swath: bool,
) -> str:
    """Coregistration + interferogram graph of one pair and sub-swath (two Write nodes)."""
    g = Graph("coreg_ifg")
    r1 = g.node("Read", "Read", None, file=_abs(reference))
    r2 = g.node("Read(2)", "Read", None, file=_abs(secondary))
    bg = g.node(
        "Back-Geocoding", "Back-Geocoding", [r1, r2],
        **_dem_params(cfg), demResamplingMethod=cfg.dem_resampling, resamplingType=cfg.image_resampling,
        maskOutAreaWithoutElevation=cfg.mask_out_area_without_elevation,
        outputRangeAzimuthOffset=False, outputDerampDemodPhase=False, disableReramp=False,
    )
    stack = g.node("Enhanced-Spectral-Diversity", "Enhanced-Spectral-Diversity", [bg], **_esd_params(cfg, profile)) if use_esd(cfg) else bg
    ifg = g.node(
        "Interferogram", "Interferogram", [stack],
        subtractFlatEarthPhase=True, srpPolynomialDegree=5, srpNumberPoints=501, orbitDegree=3,
        includeCoherence=False, cohWinAz=2, cohWinRg=10, squarePixel=True, subtractTopographicPhase=False,
        tileExtensionPercent="100",
    )
    ifg_last = g.node("TOPSAR-Deburst", "TOPSAR-Deburst", [ifg])
    coreg_last = g.node("TOPSAR-Deburst(2)", "TOPSAR-Deburst", [stack])
    if single_swath:
        ifg_last = _topo(g, cfg, ifg_last)
        if do_subset(cfg):
            ifg_last = _subset(g, cfg, ifg_last, "Subset")
            coreg_last = _subset(g, cfg, coreg_last, "Subset(2)")
    _write(g, ifg_last, ifg_out, "Write")
    _write(g, coreg_last, coreg_out, "Write(2)")
    return g.to_xml()


def export_graph(cfg: IfgStackOptions, coreg: list[Path], ifg: list[Path], target: Path) -> str:
    """StaMPS export graph of one pair: one product per sub-swath in ``coreg`` and ``ifg``."""
    if len(coreg) != len(ifg) or not coreg:
        raise ParameterError("export needs one coreg and one ifg product per sub-swath")
    g = Graph("stamps_export")
    if len(coreg) == 1:
        c = g.node("Read", "Read", None, file=_abs(coreg[0]))
        i = g.node("Read(2)", "Read", None, file=_abs(ifg[0]))
    else:
        c = g.node("ProductSet-Reader", "ProductSet-Reader", None, fileList=[_abs(p) for p in coreg])
        i = g.node("ProductSet-Reader(2)", "ProductSet-Reader", None, fileList=[_abs(p) for p in ifg])
        c = g.node("TOPSAR-Merge", "TOPSAR-Merge", [c])
        i = _topo(g, cfg, g.node("TOPSAR-Merge(2)", "TOPSAR-Merge", [i]))
        if do_subset(cfg):
            c = _subset(g, cfg, c, "Subset")
            i = _subset(g, cfg, i, "Subset(2)")
    g.node("StampsExport", "StampsExport", [c, i], targetFolder=_abs(target), psiFormat=True)
    return g.to_xml()


# ---------------------------------------------------------------------- the job plan
JobKind = Literal["split", "coreg_ifg", "export"]


@dataclass
class GptJob:
    """One gpt run: its graph, the products it needs and the products it must leave behind."""

    name: str
    kind: JobKind
    graph: str
    inputs: list[Path]
    outputs: list[Path]
    needs: list[str] = field(default_factory=list)

    @property
    def graph_file(self) -> str:
        """File name of the graph in the graphs folder."""
        return f"{self.name}.xml"


def _d(d: dt.date) -> str:
    return d.strftime("%Y%m%d")


def plan_chain(cfg: IfgStackOptions, profile: SnapProfile) -> list[GptJob]:
    """Every gpt job of the stack, in an order that respects their dependencies."""
    out = Path(cfg.out)
    ref = cfg.reference_date
    acq = cfg.acquisitions()
    single = len(cfg.subswaths) == 1
    jobs: list[GptJob] = []
    split_of: dict[tuple[dt.date, str], Path] = {}
    for d, slices in acq.items():
        for sw in cfg.subswaths:
            dim = out / "split" / f"{_d(d)}_{sw}.dim"
            split_of[(d, sw)] = dim
            jobs.append(GptJob(f"split_{_d(d)}_{sw}", "split", split_graph(cfg, slices, sw, dim), list(slices), [dim]))
    for d in cfg.secondary_dates():
        pair = f"{_d(ref)}_{_d(d)}"
        coregs, ifgs, names = [], [], []
        for sw in cfg.subswaths:
            ifg_dim = out / "ifg" / f"{pair}_{sw}.dim"
            coreg_dim = out / "coreg" / f"{pair}_{sw}.dim"
            name = f"coreg_ifg_{pair}_{sw}"
            xml = coreg_ifg_graph(cfg, profile, split_of[(ref, sw)], split_of[(d, sw)], ifg_dim, coreg_dim, single)
            jobs.append(GptJob(
                name, "coreg_ifg", xml, [split_of[(ref, sw)], split_of[(d, sw)]], [ifg_dim, coreg_dim],
                needs=[f"split_{_d(ref)}_{sw}", f"split_{_d(d)}_{sw}"],
            ))
            coregs.append(coreg_dim)
            ifgs.append(ifg_dim)
            names.append(name)
        insar = cfg.insar_dir()
        jobs.append(GptJob(
            f"export_{pair}", "export", export_graph(cfg, coregs, ifgs, insar), coregs + ifgs,
            [insar / "diff0" / f"{pair}.diff", insar / "rslc" / f"{_d(d)}.rslc", insar / "rslc" / f"{_d(ref)}.rslc"],
            needs=names,
        ))
    return jobs


def check_products(cfg: IfgStackOptions) -> dict:
    """The products' sub-swaths against the configuration, from their annotation (no pixels).

    Every acquisition whose products are on this machine is read (annotation only): each
    configured sub-swath must hold bursts there (burst-extracted products have empty burst lists
    in the other sub-swaths: TOPSAR-Split would fail on them), else :class:`InputError` naming
    the product.  Products not found here are listed under ``not_checked`` (graphs may be written
    for another machine).  Returns ``{"checked": {date: {subswath: burst ids}}, "skipped_subswaths":
    {product: {subswath: reason}}, "not_checked": [paths]}``.
    """
    from ...errors import InputError
    from ...ifg.overview import read_acquisitions

    out: dict = {"checked": {}, "skipped_subswaths": {}, "not_checked": []}
    for d, slices in cfg.acquisitions().items():
        if not all(Path(p).exists() for p in slices):
            out["not_checked"] += [str(p) for p in slices if not Path(p).exists()]
            continue
        acq = read_acquisitions(list(slices), cfg.polarisation, Path(cfg.out) / ".safe-cache")[0]
        if acq.skipped:
            out["skipped_subswaths"][acq.name] = acq.skipped
        for sw in cfg.subswaths:
            if sw not in acq.swaths:
                why = acq.skipped.get(sw, "not in the product")
                raise InputError(f"{acq.name}: sub-swath {sw} {cfg.polarisation}: {why}; it has bursts in {', '.join(sorted(acq.swaths))}")
        out["checked"][d.isoformat()] = {sw: [b.burst_id for b in acq.swaths[sw].bursts] for sw in cfg.subswaths}
    return out
