cwlVersion: v1.2
class: CommandLineTool
id: psi-quicklooks
label: quicklooks, velocity COGs, job report and web viewer of a psi result
doc: |
  `snapstamps quicklooks RESULT --out quicklooks`: the quicklook PNGs (velocity map with its
  colour bar, thumbnail, baseline plot, temporal-coherence histogram), the mean-velocity
  Cloud-Optimized GeoTIFFs (PS grid and 100 m), the one-page HTML report, the static web
  viewer (viewer/index.html) and assets.json (their STAC roles, media types and proj/raster
  fields), which the stac-catalog step publishes. Reads the result directory only.
hints:
  DockerRequirement:
    dockerPull: ghcr.io/snapstamps/snapstamps:0.1.0
  ResourceRequirement:
    coresMin: 1
    coresMax: 1
    ramMin: 2048
    outdirMin: 2048
baseCommand: [snapstamps, --quiet, quicklooks]
arguments:
  - {position: 2, prefix: --out, valueFrom: quicklooks}
inputs:
  result:
    type: Directory
    doc: psi processing directory after step 7 or 8 (ps_points.*, psi_metadata.json, stack.json)
    inputBinding: {position: 1}
  tiles_url:
    type: string?
    doc: XYZ tile URL template for the viewer background (default the hillshade of the stack DEM)
    inputBinding: {position: 3, prefix: --tiles}
outputs:
  quicklooks:
    type: Directory
    outputBinding: {glob: quicklooks}
