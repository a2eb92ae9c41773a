cwlVersion: v1.2
class: CommandLineTool
id: psi-patch
label: psi steps 1-4 on one patch
doc: |
  Load, gamma estimation, PS selection and weeding of one patch
  (`snapstamps psi --out work --start 1 --end 4 --patch PATCH_n`). The step gets a writable
  work directory holding only what it needs from the prep output: stack.json, parms.json,
  patches.json and its own PATCH_n directory (not the other patches). Outputs the processed
  patch directory and the patch's adapted parameters (adaptations.json).
requirements:
  InlineJavascriptRequirement: {}
  InitialWorkDirRequirement:
    listing: |
      ${
        var keep = ["stack.json", "parms.json", "patches.json", "adaptations.json", inputs.patch];
        return inputs.work.listing
          .filter(function (l) { return keep.indexOf(l.basename) >= 0; })
          .map(function (l) { return {"entryname": "work/" + l.basename, "entry": l, "writable": true}; });
      }
hints:
  DockerRequirement:
    dockerPull: ghcr.io/snapstamps/snapstamps:0.1.0
  ResourceRequirement:
    coresMin: 1
    coresMax: 1
    ramMin: 4096
    tmpdirMin: 1024
    outdirMin: 4096
baseCommand: [snapstamps, --quiet, psi, --out, work, --start, "1", --end, "4"]
inputs:
  work:
    type: Directory
    loadListing: shallow_listing
    doc: processing directory written by psi-prep
  patch:
    type: string
    doc: patch directory name (PATCH_n)
    inputBinding: {prefix: --patch}
outputs:
  patch_dir:
    type: Directory
    outputBinding: {glob: work/$(inputs.patch)}
  adaptations:
    type: File?
    outputBinding: {glob: work/adaptations.json}
