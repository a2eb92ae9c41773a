cwlVersion: v1.2
class: CommandLineTool
id: ifg-pair
label: coregistration and interferogram of one secondary on one sub-swath
doc: |
  `snapstamps ifg-stack --reference SAFE --secondary SAFE --subswath IW1 --polarisation VV
  --bbox W S E N --dem DEM.tif|auto [--orbits DIR] [--download-orbits] [--backend
  native|snap|auto] --out pair`: bursts over the area of interest, orbits, DEM-assisted TOPS
  coregistration with deramp/reramp, ESD, interferogram with the topographic phase removed,
  deburst, StaMPS export, for one secondary and one sub-swath. Returns the run's folder (INSAR_<reference>/ with rslc/, diff0/, geo/,
  dem/, and ifg_stack.json: deburst plan, ESD shift, baseline) and its sub-swath, which the
  gather step uses to group the pairs. Without `dem` the run downloads the DEM itself (`--dem
  auto`: GLO-30 with dem-stitcher, or SNAP's own with the snap backend); the ifg-stack workflow
  prepares it once instead (step `dem_auto`). Without `orbits`, or with `download_orbits`, missing
  orbit files are downloaded (`--download-orbits`, sentineleof, into pair/orbits, or into
  `orbits` when both are given); offline, a warning and the annotation orbit; `download_orbits:
  false` uses the annotation orbit without trying.
requirements:
  InlineJavascriptRequirement: {}
  NetworkAccess:
    networkAccess: true
hints:
  DockerRequirement:
    dockerPull: ghcr.io/snapstamps/snapstamps:0.1.0
  ResourceRequirement:
    coresMin: 1
    coresMax: 4
    ramMin: 4096
    tmpdirMin: 10240
    outdirMin: 10240
baseCommand: [snapstamps, --quiet, ifg-stack]
arguments:
  - position: 6
    valueFrom: '${ return inputs.dem === null ? ["--dem", "auto"] : []; }'
  - position: 7
    valueFrom: |
      ${
        var d = inputs.download_orbits;
        if (d === null) { d = inputs.orbits === null; }
        return d ? ["--download-orbits"] : [];
      }
  - {position: 10, prefix: --out, valueFrom: pair}
inputs:
  reference:
    type: Directory
    doc: reference SLC (SAFE directory)
    inputBinding: {position: 1, prefix: --reference}
  secondary:
    type: Directory
    doc: secondary SLC (SAFE directory)
    inputBinding: {position: 2, prefix: --secondary}
  subswath:
    type: string
    inputBinding: {position: 3, prefix: --subswath}
  polarisation:
    type: string
    inputBinding: {position: 4, prefix: --polarisation}
  bbox:
    type: float[]
    doc: W S E N (lon/lat degrees)
    inputBinding: {position: 5, prefix: --bbox}
  dem:
    type: File?
    doc: DEM GeoTIFF (any CRS; geoid heights converted); default --dem auto (downloaded by this run)
    inputBinding: {position: 6, prefix: --dem}
  orbits:
    type: Directory?
    doc: folder of EOF orbit files (POEORB/RESORB)
    inputBinding: {position: 7, prefix: --orbits}
  download_orbits:
    type: boolean?
    doc: download the orbit files no EOF file of orbits covers (--download-orbits); default true when orbits is not given
  backend:
    type: string
    default: native
    doc: native, snap (SNAP gpt) or auto
    inputBinding: {position: 8, prefix: --backend}
outputs:
  pair:
    type: Directory
    outputBinding: {glob: pair}
  pair_subswath:
    type: string
    outputBinding:
      outputEval: $(inputs.subswath)
