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
