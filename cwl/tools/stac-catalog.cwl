cwlVersion: v1.2
class: CommandLineTool
id: stac-catalog
label: STAC catalog of a psi result
doc: |
  Publishes the products of a psi processing directory as a self-contained STAC catalog
  (`snapstamps stac catalog RESULT --out catalog`): catalog.json, an item for the point
  products (CSV, GeoParquet, metadata) with the quicklooks (roles thumbnail, overview, visual),
  one for the StaMPS text exports, one for the velocity COGs (proj/raster fields), the job
  report (report.html) and the web viewer (viewer/index.html) linked from the catalog and every
  item, when the quicklooks step made them. The catalog directory is the stage-out directory.
requirements:
  InlineJavascriptRequirement: {}
hints:
  DockerRequirement:
    dockerPull: ghcr.io/snapstamps/snapstamps:0.1.0
  ResourceRequirement:
    coresMin: 1
    coresMax: 1
    ramMin: 1024
    outdirMin: 2048
baseCommand: [snapstamps, --quiet, stac, catalog]
arguments:
  - {position: 2, prefix: --out, valueFrom: catalog}
inputs:
  result:
    type: Directory
    doc: psi processing directory after step 7 or 8
    inputBinding: {position: 1}
  catalog_id:
    type: string?
    inputBinding: {position: 3, prefix: --id}
  stack_reference:
    type: string?
    doc: reference of the input stack, recorded as a derived_from link
    inputBinding: {position: 3, prefix: --stack}
  polarisation:
    type: string?
    inputBinding: {position: 3, prefix: --polarisation}
  quicklooks:
    type: Directory?
    doc: output of psi-quicklooks (quicklooks, COGs, report, viewer and their assets.json)
    inputBinding: {position: 3, prefix: --quicklooks}
outputs:
  catalog:
    type: Directory
    outputBinding: {glob: catalog}
