#!/usr/bin/env python3
"""Writes the NetCDF / HDF5 test fixtures of quiver and the values the C libraries read
back from them (expected.json). Regenerate with:

    python3 -m venv /tmp/ncvenv && /tmp/ncvenv/bin/pip install netCDF4 h5py numpy
    /tmp/ncvenv/bin/python tests/data/netcdf/make_fixtures.py [FIXTURE ...]

Naming fixtures (`committed_type.nc`) rewrites only those and their entries in
expected.json; without names every fixture is rewritten. The files are deterministic in content (not byte for byte: the libraries stamp versions).
"""
import json
import os
import sys

import h5py
import netCDF4
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
EXPECTED = {}


def path(name):
    p = os.path.join(HERE, name)
    if os.path.exists(p):
        os.remove(p)
    return p


def plain(values):
    """netCDF4/h5py values as JSON: masked -> None, numpy scalars -> Python."""
    out = []
    for v in np.ma.masked_array(values).ravel().tolist(fill_value=None) if np.ma.isMaskedArray(values) else np.asarray(values).ravel().tolist():
        if isinstance(v, bytes):
            v = v.decode()
        out.append(v)
    return out


def grid_file(name, fmt):
    """time(unlimited) x lat x lon, with a fill value and a packed variable."""
    p = path(name)
    with netCDF4.Dataset(p, "w", format=fmt) as ds:
        ds.title = f"quiver fixture {name}"
        ds.createDimension("time", None)
        ds.createDimension("lat", 2)
        ds.createDimension("lon", 3)
        t = ds.createVariable("time", "f8", ("time",))
        t.units = "days since 2000-01-01 00:00:00"
        t.calendar = "standard"
        lat = ds.createVariable("lat", "f4", ("lat",))
        lat.units = "degrees_north"
        lon = ds.createVariable("lon", "f4", ("lon",))
        lon.units = "degrees_east"
        tas = ds.createVariable("tas", "f4", ("time", "lat", "lon"), fill_value=np.float32(-999.0))
        tas.units = "K"
        tas.long_name = "air temperature"
        pr = ds.createVariable("pr", "i2", ("time", "lat", "lon"), fill_value=np.int16(-1))
        pr.scale_factor = 0.5
        pr.add_offset = 10.0
        pr.units = "mm"
        t[:] = [0.5, 31.5, 60.5]
        lat[:] = [10.0, 20.0]
        lon[:] = [100.0, 110.0, 120.0]
        data = (np.arange(18, dtype="f4") + 270.0).reshape(3, 2, 3)
        m = np.ma.masked_array(data, mask=np.zeros(data.shape, bool))
        m.mask[1, 0, 1] = True
        tas[:] = m
        pr.set_auto_scale(False)
        raw = np.arange(18, dtype="i2").reshape(3, 2, 3)
        raw[2, 1, 2] = -1
        pr[:] = raw
        if fmt == "NETCDF3_64BIT_DATA":
            n = ds.createVariable("n64", "i8", ("time", "lat", "lon"))
            n[:] = np.arange(18, dtype="i8").reshape(3, 2, 3) * 10_000_000_000
            u = ds.createVariable("u8", "u1", ("time", "lat", "lon"))
            u[:] = np.arange(18, dtype="u1").reshape(3, 2, 3) + 200
    record(name, p)


def record(name, p):
    with netCDF4.Dataset(p) as ds:
        entry = {"format": ds.data_model, "variables": {}}
        for vname, var in ds.variables.items():
            vals = var[:]
            if "since" in getattr(var, "units", ""):
                dates = netCDF4.num2date(
                    vals, var.units, getattr(var, "calendar", "standard"),
                    only_use_cftime_datetimes=True,
                )
                vals_out = [d.isoformat().replace("T", " ") for d in np.ravel(dates)]
            elif var.dtype == str:
                vals_out = [str(v) for v in np.ravel(vals)]
            else:
                vals_out = plain(vals)
            entry["variables"][vname] = {
                "dims": list(var.dimensions),
                "dtype": str(var.dtype),
                "values": vals_out,
            }
        EXPECTED[name] = entry


def nc4_groups():
    p = path("nc4_groups.nc")
    with netCDF4.Dataset(p, "w", format="NETCDF4") as ds:
        ds.title = "quiver fixture nc4_groups.nc"
        ds.createDimension("time", 4)
        ds.createDimension("x", 5)
        t = ds.createVariable("time", "i4", ("time",))
        t.units = "hours since 2020-02-28 00:00:00"
        x = ds.createVariable("x", "f8", ("x",))
        v = ds.createVariable(
            "v", "f8", ("time", "x"), zlib=True, complevel=4, shuffle=True,
            chunksizes=(2, 5), fill_value=1e20,
        )
        v.units = "m s-1"
        t[:] = [0, 24, 48, 72]  # crosses 2020-02-29
        x[:] = np.linspace(0.0, 1.0, 5)
        data = np.ma.masked_array(np.arange(20, dtype="f8").reshape(4, 5) / 4.0)
        data[3, 4] = np.ma.masked
        v[:] = data
        obs = ds.createGroup("obs")
        obs.platform = "buoy"
        obs.createDimension("station", 3)
        temp = obs.createVariable("temp", "f4", ("station",))
        temp.units = "degC"
        temp[:] = [1.5, 2.5, 3.5]
        name = obs.createVariable("name", str, ("station",))
        name[:] = np.array(["alpha", "beta", "gamma"], dtype=object)
        deep = obs.createGroup("deep")
        deep.createDimension("z", 2)
        d = deep.createVariable("depth", "i2", ("z",))
        d[:] = [10, 20]
    with netCDF4.Dataset(p) as ds:
        entry = {"format": ds.data_model, "groups": ["/", "/obs", "/obs/deep"], "variables": {}}
        entry["variables"]["time"] = {
            "values": [d.isoformat().replace("T", " ") for d in netCDF4.num2date(
                ds["time"][:], ds["time"].units, only_use_cftime_datetimes=True)]
        }
        entry["variables"]["x"] = {"values": plain(ds["x"][:])}
        entry["variables"]["v"] = {"values": plain(ds["v"][:]), "filters": ds["v"].filters(),
                                   "chunking": ds["v"].chunking()}
        entry["variables"]["obs/temp"] = {"values": plain(ds["obs/temp"][:])}
        entry["variables"]["obs/name"] = {"values": [str(s) for s in ds["obs/name"][:]]}
        entry["variables"]["obs/deep/depth"] = {"values": plain(ds["obs/deep/depth"][:])}
        EXPECTED["nc4_groups.nc"] = entry


def calendar_file(name, calendar, values):
    p = path(name)
    with netCDF4.Dataset(p, "w", format="NETCDF4_CLASSIC") as ds:
        ds.createDimension("time", len(values))
        t = ds.createVariable("time", "f8", ("time",))
        t.units = "days since 2001-01-01 00:00:00"
        t.calendar = calendar
        t[:] = values
        v = ds.createVariable("v", "i4", ("time",))
        v[:] = np.arange(len(values), dtype="i4")
    with netCDF4.Dataset(p) as ds:
        dates = netCDF4.num2date(ds["time"][:], ds["time"].units, calendar,
                                 only_use_cftime_datetimes=True)
        EXPECTED[name] = {
            "calendar": calendar,
            "raw": plain(ds["time"][:]),
            "variables": {"time": {"values": [d.isoformat().replace("T", " ") for d in dates]},
                          "v": {"values": plain(ds["v"][:])}},
        }


def latin1_file():
    """NetCDF-4 with Latin-1 (not UTF-8) bytes in a global and a variable attribute, as older
    files have: readable in lossy metadata mode, those attributes left out with a warning."""
    p = path("latin1_attrs.nc")
    with netCDF4.Dataset(p, "w", format="NETCDF4") as ds:
        ds.createDimension("x", 3)
        v = ds.createVariable("v", "f4", ("x",))
        v[:] = [1.0, 2.0, 3.0]
        v.setncattr("units", np.bytes_(b"\xb0C"))
        v.setncattr("long_name", "temperature")
        ds.setncattr("title", np.bytes_(b"Temp\xe9rature"))
    EXPECTED["latin1_attrs.nc"] = {"variables": {"v": {"values": [1.0, 2.0, 3.0]}}}


def hdf5_file():
    p = path("sample.h5")
    with h5py.File(p, "w") as f:
        f.attrs["title"] = "quiver fixture sample.h5"
        f.attrs["version"] = np.int32(3)
        f.create_dataset("series", data=np.array([5, 4, 3, 2, 1], dtype="i4"))
        grid = f.create_group("grid")
        grid.attrs["source"] = "synthetic"
        cube = grid.create_dataset("cube", data=np.arange(24, dtype="f4").reshape(2, 3, 4) * 0.5)
        cube.attrs["units"] = "K"
        elev = grid.create_dataset("elev", data=np.arange(12, dtype="f8").reshape(3, 4) + 100.0,
                                   chunks=(3, 2), compression="gzip", shuffle=True)
        y = grid.create_dataset("y", data=np.array([1.0, 2.0, 3.0]))
        x = grid.create_dataset("x", data=np.array([10, 20, 30, 40], dtype="i4"))
        y.make_scale("y")
        x.make_scale("x")
        elev.dims[0].attach_scale(y)
        elev.dims[1].attach_scale(x)
        strings = f.create_group("strings")
        strings.create_dataset("fixed", data=np.array([b"ab", b"cde", b"", b"fghij"], dtype="S5"))
        strings.create_dataset("vlen", data=["one", "two", "three", "\u00e9t\u00e9"],
                               dtype=h5py.string_dtype())
        ct = np.dtype([("id", "<i4"), ("x", "<f8"), ("name", "S6")])
        f.create_dataset("table", data=np.array(
            [(1, 0.5, b"a"), (2, 1.5, b"bb"), (3, 2.5, b"ccc")], dtype=ct))
        et = h5py.enum_dtype({"RED": 0, "GREEN": 1, "BLUE": 2}, basetype="u1")
        f.create_dataset("flags", data=np.array([0, 2, 1, 2], dtype="u1"), dtype=et)
    with h5py.File(p) as f:
        e = {"datasets": {}, "attrs": {"title": f.attrs["title"], "version": int(f.attrs["version"])}}
        for name in ["series", "grid/cube", "grid/elev", "grid/x", "grid/y"]:
            e["datasets"][name] = {"shape": list(f[name].shape), "values": plain(f[name][()])}
        e["datasets"]["strings/fixed"] = {"values": [s.decode() for s in f["strings/fixed"][()]]}
        e["datasets"]["strings/vlen"] = {"values": [s.decode() for s in f["strings/vlen"][()]]}
        t = f["table"][()]
        e["datasets"]["table"] = {"fields": {k: plain(t[k]) for k in t.dtype.names}}
        labels = {v: k for k, v in h5py.check_enum_dtype(f["flags"].dtype).items()}
        e["datasets"]["flags"] = {"values": plain(f["flags"][()]),
                                  "labels": [labels[int(v)] for v in f["flags"][()]]}
        EXPECTED["sample.h5"] = e

    # Files that point outside themselves: refused unless allowed.
    raw = path("external_raw.bin")
    np.arange(4, dtype="<i4").tofile(raw)
    with h5py.File(path("external_storage.h5"), "w") as f:
        f.create_dataset("ext", shape=(4,), dtype="<i4", external=[("external_raw.bin", 0, 16)])
    with h5py.File(path("external_link.h5"), "w") as f:
        f["linked"] = h5py.ExternalLink("sample.h5", "/series")
    EXPECTED["external_storage.h5"] = {"datasets": {"ext": {"values": [0, 1, 2, 3]}}}


def committed_type_file():
    """NetCDF-4 written by netCDF4-python with a compound type `site_t`, which libnetcdf
    commits as a named HDF5 datatype; h5py then adds a variable attribute of that committed
    type, so the attribute message refers to a shared datatype. netcdf-reader / hdf5-reader
    0.12 refuse that encoding (the fallback case of the `libnetcdf` feature); libnetcdf
    reads the file."""
    p = path("committed_type.nc")
    site = np.dtype([("lat", "f4"), ("lon", "f4")])
    with netCDF4.Dataset(p, "w", format="NETCDF4") as ds:
        ds.title = "quiver fixture committed_type.nc"
        ds.createCompoundType(site, "site_t")
        ds.createDimension("time", None)
        ds.createDimension("x", 3)
        t = ds.createVariable("time", "f8", ("time",))
        t.units = "days since 2000-01-01 00:00:00"
        x = ds.createVariable("x", "i4", ("x",))
        v = ds.createVariable("v", "f4", ("time", "x"), fill_value=np.float32(-999.0),
                              zlib=True, chunksizes=(2, 3))
        v.units = "K"
        pr = ds.createVariable("pr", "i2", ("time", "x"), fill_value=np.int16(-1))
        pr.scale_factor = 0.5
        pr.add_offset = 10.0
        label = ds.createVariable("label", str, ("x",))
        t[:] = [0.0, 1.0, 2.0, 3.0]
        x[:] = [10, 20, 30]
        data = np.ma.masked_array(np.arange(12, dtype="f4").reshape(4, 3) + 280.0)
        data[1, 2] = np.ma.masked
        v[:] = data
        pr.set_auto_scale(False)
        raw = np.arange(12, dtype="i2").reshape(4, 3)
        raw[3, 0] = -1
        pr[:] = raw
        label[:] = np.array(["a", "bb", "ccc"], dtype=object)
    with h5py.File(p, "r+") as f:
        f["v"].attrs.create("site", np.array((59.33, 18.07), dtype=site), dtype=f["site_t"])
    record("committed_type.nc", p)
    with netCDF4.Dataset(p) as ds:
        site_value = ds["v"].site
        EXPECTED["committed_type.nc"]["attributes"] = {
            "v@site": [float(site_value["lat"]), float(site_value["lon"])]}


def hdf5_parts():
    """Plain HDF5 files (h5py) of one dataset `/temp` (time x station) with dimension scales,
    split along time: `parts_1.h5` holds the later times, `parts_2.h5` the earlier ones (a
    glob concatenates them in time order); `mismatch_parts.h5` has other stations."""
    def write(name, times, stations, start):
        with h5py.File(path(name), "w") as f:
            t = f.create_dataset("time", data=np.array(times, dtype="f8"))
            s = f.create_dataset("station", data=np.array(stations, dtype="i4"))
            n = len(times) * len(stations)
            temp = f.create_dataset("temp", data=(np.arange(n, dtype="f4") + start).reshape(
                len(times), len(stations)), chunks=(1, len(stations)))
            temp.attrs["units"] = "degC"
            t.make_scale("time")
            s.make_scale("station")
            temp.dims[0].attach_scale(t)
            temp.dims[1].attach_scale(s)
    write("parts_1.h5", [3.0, 4.0, 5.0], [101, 102], 100.0)
    write("parts_2.h5", [0.0, 1.0, 2.0], [101, 102], 0.0)
    write("mismatch_parts.h5", [6.0], [101, 103], 200.0)
    # A valid but absurd dataset: 2^40 elements declared, no chunk written (a tiny file).
    with h5py.File(path("huge_dims.h5"), "w") as f:
        f.create_dataset("big", shape=(2**40,), dtype="f4", chunks=(1024,))
    times, values = [], []
    for name in ["parts_2.h5", "parts_1.h5"]:
        with h5py.File(os.path.join(HERE, name)) as f:
            times += plain(f["time"][()])
            values += plain(f["temp"][()])
    EXPECTED["parts_*.h5"] = {"time": times, "station": [101, 102], "temp": values}


def cube_files():
    """Three yearly NetCDF-4 files of a monthly time x lat x lon cube for the differential
    tests of the dense aggregation: seeded values, a float with fill values, a float with
    NaN, a packed int16 variable, one file deflated; written in another order than their
    times."""
    rng = np.random.default_rng(20261125)
    for k, year in enumerate([2003, 2001, 2002]):
        p = path(f"cube_{'cab'[k]}.nc")
        with netCDF4.Dataset(p, "w", format="NETCDF4") as ds:
            ds.createDimension("time", None)
            ds.createDimension("lat", 6)
            ds.createDimension("lon", 8)
            t = ds.createVariable("time", "f8", ("time",))
            t.units = "days since 2001-01-01 00:00:00"
            t.calendar = "proleptic_gregorian"
            lat = ds.createVariable("lat", "f4", ("lat",))
            lon = ds.createVariable("lon", "f4", ("lon",))
            tas = ds.createVariable("tas", "f4", ("time", "lat", "lon"), fill_value=np.float32(1e20),
                                    zlib=k == 1, chunksizes=(1, 3, 8))
            qc = ds.createVariable("qc", "f4", ("time", "lat", "lon"), fill_value=False)
            pr = ds.createVariable("pr", "i2", ("time", "lat", "lon"), fill_value=np.int16(-32767))
            pr.scale_factor = 0.01
            pr.add_offset = 5.0
            start = (np.datetime64(f"{year}-01-01") - np.datetime64("2001-01-01")).astype(int)
            t[:] = start + np.arange(12) * 30.4 + 15.0
            lat[:] = np.linspace(-75.0, 75.0, 6)
            lon[:] = np.arange(8) * 45.0
            data = rng.normal(280.0, 15.0, (12, 6, 8)).astype("f4")
            tas[:] = np.ma.masked_array(data, mask=rng.random((12, 6, 8)) < 0.05)
            quality = rng.normal(1.0, 0.5, (12, 6, 8)).astype("f4")
            quality[rng.random((12, 6, 8)) < 0.01] = np.nan
            qc[:] = quality
            pr.set_auto_scale(False)
            raw = rng.integers(-500, 500, (12, 6, 8)).astype("i2")
            raw[rng.random((12, 6, 8)) < 0.05] = -32767
            pr[:] = raw


def hdf5_chunked():
    """Plain HDF5 (h5py) chunked along dimension 0 in several chunks, for partitioned scans:
    `/grid/values` (t x c, gzip, chunks of 4 x 3) with dimension scales, and 1-D chunked
    datasets whose last chunk is partial: a compound `/records`, variable-length strings
    `/labels` and an enum `/codes` (outside the group of the scales, which netcdf-reader
    would otherwise expect on them too)."""
    p = path("chunked.h5")
    with h5py.File(p, "w") as f:
        grid = f.create_group("grid")
        t = grid.create_dataset("t", data=np.arange(20, dtype="f8") * 0.5)
        c = grid.create_dataset("c", data=np.array([1, 2, 3], dtype="i4"))
        values = grid.create_dataset("values", data=(np.arange(60, dtype="f4") * 1.5).reshape(20, 3),
                                  chunks=(4, 3), compression="gzip")
        t.make_scale("t")
        c.make_scale("c")
        values.dims[0].attach_scale(t)
        values.dims[1].attach_scale(c)
        ct = np.dtype([("id", "<i4"), ("v", "<f8"), ("tag", "S4")])
        f.create_dataset("records", data=np.array(
            [(i, i * 0.25, b"r%d" % (i % 7)) for i in range(18)], dtype=ct), chunks=(4,))
        f.create_dataset("labels", data=["l%d" % (i * 3) for i in range(10)],
                         dtype=h5py.string_dtype(), chunks=(3,))
        et = h5py.enum_dtype({"LOW": 0, "MID": 1, "HIGH": 2}, basetype="u1")
        f.create_dataset("codes", data=np.array([i % 3 for i in range(12)], dtype="u1"),
                         dtype=et, chunks=(5,))
    with h5py.File(p) as f:
        r = f["records"][()]
        EXPECTED["chunked.h5"] = {"datasets": {
            "grid/values": {"values": plain(f["grid/values"][()]), "t": plain(f["grid/t"][()])},
            "records": {"fields": {k: plain(r[k]) for k in r.dtype.names}},
            "labels": {"values": [s.decode() for s in f["labels"][()]]},
            "codes": {"values": plain(f["codes"][()])},
        }}


def main(only):
    if only:
        with open(os.path.join(HERE, "expected.json")) as f:
            EXPECTED.update(json.load(f))
        makers = {"committed_type.nc": committed_type_file, "parts_*.h5": hdf5_parts,
                  "chunked.h5": hdf5_chunked}
        for name in only:
            makers[name]()
    else:
        everything()
    EXPECTED["_versions"] = {
        "netCDF4": netCDF4.__version__, "libnetcdf": netCDF4.__netcdf4libversion__,
        "h5py": h5py.__version__, "libhdf5": h5py.version.hdf5_version, "numpy": np.__version__,
    }
    with open(os.path.join(HERE, "expected.json"), "w") as out:
        json.dump(EXPECTED, out, indent=1, sort_keys=True, default=str)
        out.write("\n")


def everything():
    grid_file("classic.nc", "NETCDF3_CLASSIC")
    grid_file("offset64.nc", "NETCDF3_64BIT_OFFSET")
    grid_file("cdf5.nc", "NETCDF3_64BIT_DATA")
    nc4_groups()
    # noleap: day 58 = 2001-02-28, 59 = 2001-03-01, and 365*3+59 = 2004-03-01 (no Feb 29).
    calendar_file("noleap.nc", "noleap", [0.0, 58.0, 59.0, 365.0 * 3 + 59.0])
    # 360_day: every month has 30 days; days 0, 45.5, 75 all exist in the Gregorian calendar.
    calendar_file("day360.nc", "360_day", [0.0, 45.5, 75.0])
    # 360_day day 59 = 2001-02-30, which does not exist in the Gregorian calendar.
    calendar_file("day360_feb30.nc", "360_day", [0.0, 59.0])
    latin1_file()
    hdf5_file()
    cube_files()
    committed_type_file()
    hdf5_parts()
    hdf5_chunked()


if __name__ == "__main__":
    main(sys.argv[1:])
