"""Expected values for tests/slt/reshape/course.slt, computed with pandas.

Run: python3 -m venv /tmp/pdvenv && /tmp/pdvenv/bin/pip install pandas
     /tmp/pdvenv/bin/python tests/pandas/reshape_expected.py
and compare its output with the expected results in course.slt.
"""
import pandas as pd

df = pd.DataFrame({"foo": ["one", "one", "one", "two", "two", "two"],
                   "bar": ["A", "B", "C", "A", "B", "C"],
                   "baz": [1, 2, 3, 4, 5, 6]})
print("pivot foo/bar/baz:\n", df.pivot(index="foo", columns="bar", values="baz"))

t = pd.DataFrame({"Sex": ["male", "female", "female", "male", "male", "female", "male", "female"],
                  "Pclass": [1, 1, 2, 2, 3, 3, 3, 1],
                  "Survived": [0, 1, 1, 0, 1, 0, 0, 1]})
print("pivot_table:\n", t.pivot_table("Survived", index="Sex", columns="Pclass"))

frame = pd.DataFrame({"first": ["bar", "bar", "baz", "baz"], "second": ["one", "two", "one", "two"],
                      "A": [1.0, 2.0, 3.0, 4.0], "B": [5.0, 6.0, 7.0, 8.0]}).set_index(["first", "second"])
stacked = frame.stack()
print("stack:\n", stacked)
print("unstack:\n", stacked.unstack())
print("unstack level 1 wide:\n", frame.unstack())
print("describe:\n", frame.describe())

# tests/slt/fill/fill.slt: ffill, bfill, interpolate per group, in order of t.
import numpy as np

nan = np.nan
gaps = pd.DataFrame({"g": ["a"] * 8 + ["b"] * 5,
                     "t": list(range(1, 9)) + list(range(1, 6)),
                     "x": [nan, 1, nan, nan, nan, 5, nan, nan, 2, nan, nan, 3.5, nan]})
by_g = gaps.sort_values(["g", "t"]).groupby("g")["x"]
gaps["ff"], gaps["ff2"] = by_g.ffill(), by_g.ffill(limit=2)
gaps["bf"], gaps["bf1"] = by_g.bfill(), by_g.bfill(limit=1)
gaps["ip"] = by_g.transform(lambda s: s.interpolate())
gaps["ip1"] = by_g.transform(lambda s: s.interpolate(limit=1))
with pd.option_context("display.width", 200):
    print("fills:\n", gaps)

# tests/slt/fill/climatology.slt: the course's monthly climatology, anomaly and
# standardize-by-month on a daily table that the .slt builds with generate_series(0, 1095).
i = np.arange(1096)
day = pd.date_range("2000-01-01", periods=1096, freq="D")
daily = pd.DataFrame({"day": day, "x": 25 - 3 * np.abs(day.month - 7) + ((i * 37) % 23 - 11) / 4})
by_month = daily.groupby(daily.day.dt.month)["x"]
full = {"float_format": lambda v: repr(float(v))}  # shortest round-trip digits, as the .slt
print("climatology (month, mean, std, count):\n",
      by_month.agg(["mean", "std", "count"]).round(10).to_string(**full))
daily["anomaly"] = daily.x - by_month.transform("mean")
daily["z"] = daily.anomaly / by_month.transform("std")
mid_2001 = daily[(daily.day.dt.year == 2001) & (daily.day.dt.day == 15)]
print("anomaly and z on the 15th of each month of 2001:\n",
      mid_2001.assign(anomaly=mid_2001.anomaly.round(10), z=mid_2001.z.round(10))
      .to_string(index=False, **full))
print("per month: |sum of anomalies|, |mean of z|, std of z:\n",
      daily.groupby(daily.day.dt.month)
      .agg(anomaly_sum=("anomaly", "sum"), z_mean=("z", "mean"), z_std=("z", "std"))
      .abs().round(9).to_string(**full))

# tests/slt/reshape/pandas_pivot.slt: pivot's duplicate error, pivot_table margins/fill_value.
full_digits = {"float_format": lambda v: repr(float(v))}
try:
    t.pivot(index="Sex", columns="Pclass", values="Survived")
except ValueError as error:
    print("pandas pivot with duplicates:", error)
print("pivot_table margins:\n",
      t.pivot_table("Survived", index="Sex", columns="Pclass", margins=True).to_string(**full_digits))
print("pivot_table sum margins:\n",
      t.pivot_table("Survived", index="Sex", columns="Pclass", aggfunc="sum", margins=True))
t2 = t[~((t.Sex == "male") & (t.Pclass == 2))]
print("pivot_table fill_value=0:\n", t2.pivot_table("Survived", index="Sex", columns="Pclass", fill_value=0))
print("pivot_table fill_value=0, margins:\n",
      t2.pivot_table("Survived", index="Sex", columns="Pclass", fill_value=0, margins=True)
      .to_string(**full_digits))
