cwlVersion: v1.2
class: CommandLineTool
id: ifg-gather
label: gather the pairs of one sub-swath into one INSAR_<reference> stack
doc: |
  `snapstamps ifg-stack-gather PAIR_OUT [...] --out <subswath>`: merges the single-secondary
  ifg-stack outputs of one sub-swath (picked from all pairs by their sub-swath) into one
  INSAR_<reference>/ with its ifg_stack.json; checks that the runs agree (reference, grid,
  deburst plan, byte-identical reference SLC and geometry). The workflow scatters this step over
  the sub-swaths.
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
baseCommand: [snapstamps, ifg-stack-gather]
arguments:
  - position: 1
    valueFrom: |
      ${
        var out = [];
        inputs.pairs.forEach(function (p, i) {
          if (inputs.pair_subswaths[i] === inputs.subswath) { out.push(p.path); }
        });
        if (out.length === 0) { throw "no pair of sub-swath " + inputs.subswath; }
        return out;
      }
  - {position: 2, prefix: --out, valueFrom: $(inputs.subswath)}
inputs:
  pairs:
    type: Directory[]
    doc: the ifg-stack outputs of every secondary x sub-swath
  pair_subswaths:
    type: string[]
    doc: the sub-swath of each pair, in the same order
  subswath:
    type: string
    doc: the sub-swath gathered here
outputs:
  stack:
    type: Directory
    outputBinding: {glob: $(inputs.subswath)}
