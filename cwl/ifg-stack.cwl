cwlVersion: v1.2
$namespaces:
  s: https://schema.org/
s:softwareVersion: 0.1.0
s:name: snapstamps ifg-stack
s:description: Sentinel-1 IW SLCs to a single-master interferogram stack in the layout of SNAP's StaMPS export (planned engine)
s:applicationCategory: Earth Observation application
s:keywords:
  - class: s:DefinedTerm
    s:name: InSAR
  - class: s:DefinedTerm
    s:name: Sentinel-1
s:license:
  class: s:CreativeWork
  s:name: Apache-2.0
  s:url: https://www.apache.org/licenses/LICENSE-2.0
s:author:
  - class: s:Organization
    s:name: snapstamps contributors
s:codeRepository: https://github.com/snapstamps/snapstamps
class: Workflow
id: ifg-stack
label: Sentinel-1 interferogram stack (PLANNED, not runnable yet)
doc: |
  NOT RUNNABLE YET: the native interferogram-stack engine (its own issue) does not exist in
  this release; the tools call its planned command line. Scatters coregistration and
  interferogram formation over secondary x sub-swath (flat cross product), then gathers the
  pairs into one INSAR_<master> stack per sub-swath with a stack catalog (the workflow output,
  a Directory holding catalog.json, which is what the psi workflow takes as `stack`).
requirements:
  ScatterFeatureRequirement: {}
inputs:
  reference:
    type: Directory
    label: reference (master) SLC, SAFE directory
  secondaries:
    type: Directory[]
    label: secondary SLCs, SAFE directories
  subswaths:
    type: string[]
    default: [IW1, IW2, IW3]
    label: sub-swaths
  polarisation:
    type: string
    default: VV
    label: polarisation
  bbox:
    type: float[]
    label: area of interest W S E N (lon/lat degrees)
  dem:
    type: File?
    label: DEM (GeoTIFF); default the engine's choice
  orbits:
    type: Directory?
    label: directory of precise orbit files
  backend:
    type: string
    default: native
    label: native or snap
outputs:
  stack:
    type: Directory
    label: stack catalog (catalog.json and the INSAR_<master> directories)
    outputSource: gather/stack
steps:
  pair:
    run: tools/ifg-pair.cwl
    scatter: [secondary, subswath]
    scatterMethod: flat_crossproduct
    in:
      reference: reference
      secondary: secondaries
      subswath: subswaths
      polarisation: polarisation
      bbox: bbox
      dem: dem
      orbits: orbits
      backend: backend
    out: [pair]
  gather:
    run: tools/ifg-gather.cwl
    in:
      pairs: pair/pair
    out: [stack]
