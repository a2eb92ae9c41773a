cwlVersion: v1.2
class: CommandLineTool
id: psi-merged
label: psi steps 5-8 and products
doc: |
  Patch merge and phase correction (5), 3-D unwrapping (6), SCLA and master APS (7),
  spatially correlated noise (8), and the products (ps_mean_v.xy, ps_data.xy,
  ps_u-dm.<n>.xy, ps_points.csv, ps_points.parquet, psi_metadata.json), as
  `snapstamps psi --out work --start 5 --end 8`. The work directory is assembled from the
  prep output (stack.json, parms.json, patches.json) and the processed patch directories;
  the per-patch adapted parameters are merged into adaptations.json so that they reach
  psi_metadata.json.
requirements:
  InlineJavascriptRequirement: {}
  InitialWorkDirRequirement:
    listing: |
      ${
        var keep = ["stack.json", "parms.json", "patches.json"];
        var adapted = [];
        (inputs.adaptations || []).forEach(function (f) {
          if (f && f.contents) { adapted = adapted.concat(JSON.parse(f.contents)); }
        });
        var entries = inputs.work.listing
          .filter(function (l) { return keep.indexOf(l.basename) >= 0; })
          .concat(inputs.patch_dirs)
          .map(function (l) { return {"entryname": "work/" + l.basename, "entry": l, "writable": true}; });
        entries.push({"entryname": "work/adaptations.json", "entry": JSON.stringify(adapted)});
        return entries;
      }
hints:
  DockerRequirement:
    dockerPull: ghcr.io/snapstamps/snapstamps:0.1.0
  ResourceRequirement:
    coresMin: 1
    coresMax: 4
    ramMin: 8192
    tmpdirMin: 2048
    outdirMin: 10240
baseCommand: [snapstamps, --quiet, psi, --out, work, --start, "5", --end, "8"]
inputs:
  work:
    type: Directory
    loadListing: shallow_listing
    doc: processing directory written by psi-prep
  patch_dirs:
    type: Directory[]
    doc: the PATCH_n directories after steps 1-4
  adaptations:
    type:
      type: array
      items: ["null", File]
    loadContents: true
    doc: adaptations.json of each patch step (absent where nothing was adapted)
outputs:
  result:
    type: Directory
    outputBinding: {glob: work}
