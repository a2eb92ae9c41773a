cwlVersion: v1.2
class: CommandLineTool
id: ifg-stack-catalog
label: STAC stack catalog of the gathered interferogram stacks
doc: |
  `snapstamps stac ifg-stack-catalog GATHERED [...] --out stack --item PRODUCT=HREF [...]`: a
  self-contained STAC catalog (catalog.json) with one stack item per sub-swath holding its
  INSAR_<reference>/ directory (asset role stamps-export, the psi workflow's input) and one item
  per reference/secondary/sub-swath: coregistered secondary and interferogram assets,
  insar:perpendicular_baseline, insar:temporal_baseline, insar:reference_datetime,
  insar:secondary_datetime, and links `reference`/`secondary` to the input items
  (reference_item/secondary_items when given, else the SAFE directories). The stack files are
  hard-linked (or copied) into the catalog directory, which is the stage-out directory.
requirements:
  InlineJavascriptRequirement: {}
hints:
  DockerRequirement:
    dockerPull: ghcr.io/snapstamps/snapstamps:0.1.0
  ResourceRequirement:
    coresMin: 1
    coresMax: 1
    ramMin: 1024
    outdirMin: 20480
baseCommand: [snapstamps, --quiet, stac, ifg-stack-catalog]
arguments:
  - {position: 2, prefix: --out, valueFrom: stack}
  - position: 3
    valueFrom: |
      ${
        var a = [];
        var add = function (d, href) { a.push("--item", d.basename + "=" + (href ? href : d.path)); };
        add(inputs.reference, inputs.reference_item);
        var items = inputs.secondary_items || [];
        inputs.secondaries.forEach(function (d, i) { add(d, items.length === inputs.secondaries.length ? items[i] : null); });
        return a;
      }
inputs:
  stacks:
    type: Directory[]
    doc: the gathered stacks, one per sub-swath (INSAR_<reference>/ and ifg_stack.json)
    inputBinding: {position: 1}
  reference:
    type: Directory
    doc: reference SAFE (its name keys the input links)
  secondaries:
    type: Directory[]
    doc: secondary SAFEs
  reference_item:
    type: string?
    doc: href of the reference's input STAC item (default the SAFE directory)
  secondary_items:
    type: string[]?
    doc: hrefs of the secondaries' input STAC items, in the order of secondaries
  catalog_id:
    type: string?
    inputBinding: {position: 4, prefix: --id}
outputs:
  stack:
    type: Directory
    outputBinding: {glob: stack}
