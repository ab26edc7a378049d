"""Writes the synthetic cube of quiver's `cube.*` workloads: a float32 (time, lat, lon)
variable `tas` of monthly steps on a 0.5 degree grid (360 x 720), split into yearly
NetCDF-4 files (uncompressed, one chunk per time step), seeded. The default 1,032 steps
are 1.07 GB of values in 86 files.

    python3 benches/workloads/make_cube.py [--steps 1032] [--out $PEER_DATA/cube]

Needs numpy and netCDF4 (pip install netCDF4).
"""
import argparse
import os
from pathlib import Path

import netCDF4
import numpy as np


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=1032)
    p.add_argument("--out", default=os.path.join(os.environ.get("PEER_DATA", "/tmp/peer-data"), "cube"))
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(11)
    lat = np.linspace(-89.75, 89.75, 360)
    lon = np.linspace(0.25, 359.75, 720)
    base = (288.0 - 30.0 * np.sin(np.radians(lat)) ** 2)[:, None] + np.zeros((1, 720))
    for year, start in enumerate(range(0, args.steps, 12)):
        steps = min(12, args.steps - start)
        path = out / f"cube_{1900 + year}.nc"
        tmp = path.with_suffix(".tmp")
        with netCDF4.Dataset(tmp, "w", format="NETCDF4") as ds:
            ds.createDimension("time", None)
            ds.createDimension("lat", 360)
            ds.createDimension("lon", 720)
            t = ds.createVariable("time", "f8", ("time",))
            t.units = "days since 1900-01-01"
            t.calendar = "proleptic_gregorian"
            ds.createVariable("lat", "f8", ("lat",))[:] = lat
            ds.createVariable("lon", "f8", ("lon",))[:] = lon
            v = ds.createVariable("tas", "f4", ("time", "lat", "lon"), chunksizes=(1, 360, 720))
            v.units = "K"
            days = np.array([(np.datetime64(f"{1900 + year}-{m + 1:02d}-15") - np.datetime64("1900-01-01")).astype(int)
                             for m in range(steps)], dtype="f8")
            t[:] = days
            for k in range(steps):
                season = 10.0 * np.cos(2 * np.pi * k / 12.0)
                v[k] = (base + season + rng.normal(0.0, 2.0, (360, 720))).astype("f4")
        os.replace(tmp, path)
    print(f"wrote {len(list(out.glob('cube_*.nc')))} files to {out}")


if __name__ == "__main__":
    main()
