cwlVersion: v1.2
$namespaces:
  s: https://schema.org/
s:softwareVersion: 0.1.0
s:name: snapstamps ifg-stack
s:description: Sentinel-1 IW SLCs to a single-reference interferogram stack in the layout of SNAP's StaMPS export, with its STAC stack catalog (native engine)
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
label: Sentinel-1 interferogram stack (native engine)
doc: |
  Sentinel-1 IW SLC SAFEs to a single-reference interferogram stack. Scatters `snapstamps
  ifg-stack` (bursts over the area of interest, orbits, DEM-assisted TOPS coregistration with
  deramp/reramp, ESD, interferogram, topographic phase removal, deburst, StaMPS export) over
  secondary x sub-swath (flat cross product, one secondary per run), gathers the runs of each
  sub-swath into one INSAR_<reference> stack with `snapstamps ifg-stack-gather` (scattered over
  the sub-swaths; without `subswaths`, the step `choose_subswaths` picks those whose bursts the
  bbox touches from the reference's annotation), and publishes them as a STAC stack catalog: the workflow output, a Directory
  holding catalog.json, one stack item per sub-swath (the INSAR_<reference> directory, which the
  psi workflow takes as `stack`) and one item per reference/secondary/sub-swath (coregistered
  secondary, interferogram, insar:* baselines and dates, links to the input items).
  Without `dem`, the step `dem_auto` downloads the Copernicus GLO-30 DEM of the area of interest once
  (`snapstamps ifg-stack-dem`, native backend) and every pair uses it; with the snap or auto
  backend each pair runs `--dem auto` (SNAP's own download). Without `orbits`, each pair
  downloads the orbit files it needs (`--download-orbits`; offline, a warning in the log and the
  annotation orbit).
requirements:
  ScatterFeatureRequirement: {}
  InlineJavascriptRequirement: {}
  MultipleInputFeatureRequirement: {}
  StepInputExpressionRequirement: {}
inputs:
  reference:
    type: Directory
    label: reference SLC, SAFE directory
  secondaries:
    type: Directory[]
    label: secondary SLCs, SAFE directories
  subswaths:
    type: string[]?
    label: sub-swaths (each must cover the area of interest); default those whose bursts the bbox touches (read from the reference's annotation)
  polarisation:
    type: string
    default: VV
    label: polarisation
  bbox:
    type: float[]
    label: area of interest W S E N (lon/lat degrees)
  dem:
    type: File?
    label: DEM (GeoTIFF, any CRS; geoid heights converted); default the Copernicus GLO-30 DEM, downloaded once
  orbits:
    type: Directory?
    label: directory of precise orbit files (EOF); default downloaded by each pair (offline, the annotation orbit)
  download_orbits:
    type: boolean?
    label: download the orbit files not in orbits (default true when orbits is not given; false = annotation orbit)
  backend:
    type: string
    default: native
    label: native, snap or auto
  reference_item:
    type: string?
    label: href of the reference's STAC item, linked from the catalog (default the SAFE directory)
  secondary_items:
    type: string[]?
    label: hrefs of the secondaries' STAC items, in the order of secondaries
outputs:
  stack:
    type: Directory
    label: stack catalog (catalog.json, stack items with the INSAR_<reference> directories, pair items)
    outputSource: catalog/stack
steps:
  choose_subswaths:
    run: tools/ifg-subswaths.cwl
    when: $(inputs.subswaths === null)
    in:
      reference: reference
      bbox: bbox
      polarisation: polarisation
      subswaths: subswaths
    out: [subswaths]
  dem_auto:
    run: tools/ifg-dem.cwl
    when: $(inputs.dem === null && inputs.backend === "native")
    in:
      bbox: bbox
      dem: dem
      backend: backend
    out: [dem]
  pair:
    run: tools/ifg-pair.cwl
    scatter: [secondary, subswath]
    scatterMethod: flat_crossproduct
    in:
      reference: reference
      secondary: secondaries
      subswath:
        source: [subswaths, choose_subswaths/subswaths]
        pickValue: first_non_null
      polarisation: polarisation
      bbox: bbox
      dem:
        source: [dem, dem_auto/dem]
        valueFrom: '$(self[0] !== null ? self[0] : self[1])'
      orbits: orbits
      download_orbits: download_orbits
      backend: backend
    out: [pair, pair_subswath]
  gather:
    run: tools/ifg-gather.cwl
    scatter: subswath
    in:
      pairs: pair/pair
      pair_subswaths: pair/pair_subswath
      subswath:
        source: [subswaths, choose_subswaths/subswaths]
        pickValue: first_non_null
    out: [stack]
  catalog:
    run: tools/ifg-stack-catalog.cwl
    in:
      stacks: gather/stack
      reference: reference
      secondaries: secondaries
      reference_item: reference_item
      secondary_items: secondary_items
    out: [stack]
