cwlVersion: v1.2
class: CommandLineTool
id: stac-catalog
label: quicklooks and STAC catalog of a psi result
doc: |
  Publishes the products of a psi processing directory as a self-contained STAC catalog
  (`snapstamps stac catalog RESULT --out catalog`): catalog.json, an item for the point
  products (CSV, GeoParquet, metadata) with the quicklooks (roles thumbnail, overview, visual),
  one for the StaMPS text exports, one for the velocity COGs (proj/raster fields), the job
  report (report.html) and the web viewer (viewer/index.html) linked from the catalog and every
  item. With `make_quicklooks` (what the psi workflow does) the same process first makes the
  quicklook PNGs (velocity map with its colour bar, thumbnail, baseline plot,
  temporal-coherence histogram), the mean-velocity Cloud-Optimized GeoTIFFs (PS grid and
  100 m), the one-page HTML report and the static web viewer (`--make-quicklooks`, as
  `snapstamps quicklooks`): one tool process instead of two. Reads the result directory only.
  The catalog directory is the stage-out directory.
requirements:
  InlineJavascriptRequirement: {}
hints:
  DockerRequirement:
    dockerPull: ghcr.io/snapstamps/snapstamps:0.1.0
  ResourceRequirement:
    coresMin: 1
    coresMax: 1
    ramMin: 2048
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
    doc: reference of the input stack (path or URL, as the job named it), recorded as the items' derived_from link
    inputBinding: {position: 3, prefix: --stack}
  make_quicklooks:
    type: boolean?
    doc: make the quicklooks, COGs, report and viewer first, in this process
    inputBinding: {position: 3, prefix: --make-quicklooks}
  tiles_url:
    type: string?
    doc: with make_quicklooks, XYZ tile URL template for the viewer background (default the hillshade of the stack DEM)
    inputBinding: {position: 3, prefix: --tiles}
  polarisation:
    type: string?
    inputBinding: {position: 3, prefix: --polarisation}
  quicklooks:
    type: Directory?
    doc: output of `snapstamps quicklooks` (quicklooks, COGs, report, viewer and their assets.json), when made apart
    inputBinding: {position: 3, prefix: --quicklooks}
outputs:
  catalog:
    type: Directory
    outputBinding: {glob: catalog}
