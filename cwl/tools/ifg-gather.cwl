cwlVersion: v1.2
class: CommandLineTool
id: ifg-gather
label: gather pairs into one INSAR_<master> stack per sub-swath and its STAC catalog (PLANNED CLI)
doc: |
  NOT RUNNABLE YET: written against the planned command
  `snapstamps ifg-stack-gather PAIR_DIR [...] --out DIR`, which merges the single-pair
  INSAR_<master> directories of each sub-swath into one stack and writes a stack catalog
  (catalog.json, one stack item per sub-swath holding its INSAR_<master> directory, one item
  per secondary x sub-swath with insar:* baselines and dates), as the psi workflow reads.
hints:
  DockerRequirement:
    dockerPull: ghcr.io/snapstamps/snapstamps:0.1.0
  ResourceRequirement:
    coresMin: 1
    coresMax: 1
    ramMin: 2048
    outdirMin: 20480
baseCommand: [snapstamps, --quiet, ifg-stack-gather]
arguments:
  - {position: 2, prefix: --out, valueFrom: stack}
inputs:
  pairs:
    type: Directory[]
    inputBinding: {position: 1}
outputs:
  stack:
    type: Directory
    outputBinding: {glob: stack}
