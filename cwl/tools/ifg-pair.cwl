cwlVersion: v1.2
class: CommandLineTool
id: ifg-pair
label: coregistration and interferogram of one secondary on one sub-swath (PLANNED CLI)
doc: |
  NOT RUNNABLE YET: written against the planned command
  `snapstamps ifg-stack --reference SAFE --secondary SAFE [...] --subswath IW2
  --polarisation VV --bbox W S E N --dem DEM.tif [--orbits DIR] --out DIR` of the native
  interferogram-stack engine, which does not exist in this release. Runs it for one secondary
  and one sub-swath and returns the INSAR_<master> directory it writes (rslc/, diff0/, geo/, dem/).
requirements:
  InlineJavascriptRequirement: {}
hints:
  DockerRequirement:
    dockerPull: ghcr.io/snapstamps/snapstamps:0.1.0
  ResourceRequirement:
    coresMin: 2
    coresMax: 4
    ramMin: 8192
    tmpdirMin: 10240
    outdirMin: 10240
baseCommand: [snapstamps, --quiet, ifg-stack]
arguments:
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
    inputBinding: {position: 6, prefix: --dem}
  orbits:
    type: Directory?
    inputBinding: {position: 7, prefix: --orbits}
  backend:
    type: string
    default: native
    inputBinding: {position: 8, prefix: --backend}
outputs:
  pair:
    type: Directory
    outputBinding: {glob: pair}
