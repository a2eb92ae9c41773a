cwlVersion: v1.2
class: CommandLineTool
id: psi-prep
label: psi step 0 (prep, as mt_prep_snap)
doc: |
  Amplitude calibration, amplitude dispersion, PS candidates and patches of an INSAR_<master>
  stack (`snapstamps psi STACK --start 0 --end 0`). `stack` is either the INSAR_<date>
  directory itself or a staged stack catalog directory (catalog.json + items) that contains
  it. The StaMPS parameters given here are saved in work/parms.json and used by every later
  step. Outputs the processing directory and the names of its patches (PATCH_n).
requirements:
  InlineJavascriptRequirement:
    expressionLib:
      - |
        function insarPath(d) {
          var isInsar = function (x) {
            if (/^INSAR_\d{8}$/.test(x.basename)) { return true; }
            var names = (x.listing || []).map(function (l) { return l.basename; });
            return names.indexOf("rslc") >= 0 && names.indexOf("diff0") >= 0;
          };
          var queue = [d];
          while (queue.length > 0) {
            var x = queue.shift();
            if (x.class === "Directory" && isInsar(x)) { return x.path; }
            (x.listing || []).forEach(function (l) { if (l.class === "Directory") { queue.push(l); } });
          }
          throw "no INSAR_<date> directory (rslc/, diff0/) in " + d.basename;
        }
hints:
  DockerRequirement:
    dockerPull: ghcr.io/snapstamps/snapstamps:0.1.0
  ResourceRequirement:
    coresMin: 1
    coresMax: 2
    ramMin: 4096
    tmpdirMin: 1024
    outdirMin: 10240
baseCommand: [snapstamps, --quiet, psi]
arguments:
  - position: 0
    valueFrom: $(insarPath(inputs.stack))
  - {position: 1, prefix: --out, valueFrom: work}
  - {position: 1, prefix: --start, valueFrom: "0"}
  - {position: 1, prefix: --end, valueFrom: "0"}
  - position: 3
    valueFrom: |
      ${
        var a = [];
        var r = inputs.reference_area;
        if (r) { a.push("--param", "ref_centre_lonlat=" + r[0] + "," + r[1], "--param", "ref_radius=" + r[2]); }
        if (inputs.unwrap_grid_size !== null) { a.push("--param", "unwrap_grid_size=" + inputs.unwrap_grid_size); }
        if (inputs.weed_standard_dev !== null) { a.push("--param", "weed_standard_dev=" + inputs.weed_standard_dev); }
        return a;
      }
inputs:
  stack:
    type: Directory
    loadListing: deep_listing
    label: stack
    doc: INSAR_<date> directory (StaMPS export layout) or a staged stack catalog directory holding one
  amplitude_dispersion:
    type: float
    default: 0.4
    label: amplitude dispersion threshold (da_thresh)
    inputBinding: {position: 2, prefix: --da-thresh}
  patches:
    type: int[]?
    label: patches in range and azimuth
    inputBinding: {position: 2, prefix: --patches}
  reference_area:
    type: float[]?
    label: reference area (lon, lat, radius in m)
  unwrap_grid_size:
    type: float?
    label: unwrap_grid_size (m)
  weed_standard_dev:
    type: float?
    label: weed_standard_dev (rad)
  parameters:
    label: other StaMPS parameters, NAME=VALUE
    type:
      - "null"
      - type: array
        items: string
        inputBinding: {prefix: --param}
    inputBinding: {position: 4}
outputs:
  work:
    type: Directory
    outputBinding: {glob: work}
  patch_names:
    type: string[]
    outputBinding:
      glob: work/patches.json
      loadContents: true
      outputEval: $(JSON.parse(self[0].contents).patches)
