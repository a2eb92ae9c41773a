cwlVersion: v1.2
class: CommandLineTool
id: ifg-dem
label: Copernicus GLO-30 DEM of the area of interest, prepared once for every pair
doc: |
  `snapstamps ifg-stack-dem --bbox W S E N --out .`: stitches the Copernicus GLO-30 DEM of the
  area of interest plus 0.05 deg with dem-stitcher (heights above the WGS84 ellipsoid), as
  `ifg-stack --dem auto` does, into dem/glo30_<W>_<S>_<E>_<N>.tif. The ifg-stack workflow runs
  it once when no DEM is given (native backend) and gives the file to every scattered pair.
  Needs a connection (AWS open data); a failed download is a one-line error asking for a DEM.
requirements:
  NetworkAccess:
    networkAccess: true
hints:
  DockerRequirement:
    dockerPull: ghcr.io/snapstamps/snapstamps:0.1.0
  ResourceRequirement:
    coresMin: 1
    coresMax: 1
    ramMin: 2048
    outdirMin: 2048
baseCommand: [snapstamps, --quiet, ifg-stack-dem]
arguments:
  - {position: 2, prefix: --out, valueFrom: .}
inputs:
  bbox:
    type: float[]
    doc: W S E N (lon/lat degrees)
    inputBinding: {position: 1, prefix: --bbox}
outputs:
  dem:
    type: File
    doc: the DEM GeoTIFF (EPSG:4326, ellipsoidal heights)
    outputBinding: {glob: dem/glo30_*.tif}
