cwlVersion: v1.2
class: CommandLineTool
id: ifg-subswaths
label: the sub-swaths whose bursts cover the area of interest
doc: |
  `snapstamps aoi-subswaths --bbox W S E N REFERENCE`: reads the reference's annotation (no
  pixels) and prints the sub-swaths whose burst footprints (valid area, from the geolocation
  grid) intersect the area of interest, as a JSON list; an area touching no burst is a one-line
  error. Burst-extracted products (empty burst lists) give their one sub-swath. The ifg-stack
  workflow runs it when no sub-swaths are given.
requirements:
  InlineJavascriptRequirement: {}
hints:
  DockerRequirement:
    dockerPull: ghcr.io/snapstamps/snapstamps:0.1.0
  ResourceRequirement:
    coresMin: 1
    coresMax: 1
    ramMin: 512
    outdirMin: 64
baseCommand: [snapstamps, --quiet, aoi-subswaths]
stdout: subswaths.json
inputs:
  reference:
    type: Directory
    doc: reference SLC, SAFE directory
    inputBinding: {position: 2}
  bbox:
    type: float[]
    doc: W S E N (lon/lat degrees)
    inputBinding: {position: 1, prefix: --bbox}
  polarisation:
    type: string
    default: VV
    inputBinding: {position: 1, prefix: --polarisation}
outputs:
  subswaths:
    type: string[]
    doc: sub-swaths touched by the area of interest, e.g. ["IW2", "IW3"]
    outputBinding:
      glob: subswaths.json
      loadContents: true
      outputEval: $(JSON.parse(self[0].contents))
