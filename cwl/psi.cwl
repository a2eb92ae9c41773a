cwlVersion: v1.2
$namespaces:
  s: https://schema.org/
s:softwareVersion: 0.1.0
s:name: snapstamps psi
s:description: Sentinel-1 Persistent Scatterer Interferometry (StaMPS PSI, native backend) on an INSAR_<master> stack
s:applicationCategory: Earth Observation application
s:keywords:
  - class: s:DefinedTerm
    s:name: PSI
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
id: psi
label: Sentinel-1 PSI (StaMPS steps 0-8)
doc: |
  Persistent Scatterer Interferometry on a Sentinel-1 single-master stack in the layout of
  SNAP's StaMPS export. prep (step 0) writes the processing directory and its patches; steps
  1-4 run on each patch in parallel (scatter), each patch step receiving only its own
  PATCH_n plus the run's stack.json / parms.json; the merge step gathers the patches and runs
  steps 5-8 and the products; the last step publishes them as a STAC catalog, which is the
  workflow output (a Directory holding catalog.json).
requirements:
  ScatterFeatureRequirement: {}
  InlineJavascriptRequirement: {}
  StepInputExpressionRequirement: {}
inputs:
  stack:
    type: Directory
    label: input stack
    doc: INSAR_<date> directory, or a staged stack catalog directory (catalog.json) holding one
  amplitude_dispersion:
    type: float
    default: 0.4
    label: amplitude dispersion threshold for PS candidates (da_thresh)
  patches:
    type: int[]?
    label: number of patches in range and azimuth
  reference_area:
    type: float[]?
    label: reference area (lon, lat in degrees, radius in m); default all PS
  unwrap_grid_size:
    type: float?
    label: unwrap_grid_size (m)
  weed_standard_dev:
    type: float?
    label: weed_standard_dev (rad)
  parameters:
    type: string[]?
    label: other StaMPS parameters as NAME=VALUE
  tiles_url:
    type: string?
    label: XYZ tile URL template for the web viewer's background (default the stack DEM's hillshade)
outputs:
  catalog:
    type: Directory
    label: STAC catalog of the products
    outputSource: publish/catalog
steps:
  prep:
    run: tools/psi-prep.cwl
    in:
      stack: stack
      amplitude_dispersion: amplitude_dispersion
      patches: patches
      reference_area: reference_area
      unwrap_grid_size: unwrap_grid_size
      weed_standard_dev: weed_standard_dev
      parameters: parameters
    out: [work, patch_names]
  patch:
    run: tools/psi-patch.cwl
    scatter: patch
    in:
      work: prep/work
      patch: prep/patch_names
    out: [patch_dir, adaptations]
  merged:
    run: tools/psi-merged.cwl
    in:
      work: prep/work
      patch_dirs: patch/patch_dir
      adaptations: patch/adaptations
    out: [result]
  quicklooks:
    run: tools/psi-quicklooks.cwl
    in:
      result: merged/result
      tiles_url: tiles_url
    out: [quicklooks]
  publish:
    run: tools/stac-catalog.cwl
    in:
      result: merged/result
      quicklooks: quicklooks/quicklooks
      stack_reference:
        source: stack
        valueFrom: $(self.basename)
    out: [catalog]
