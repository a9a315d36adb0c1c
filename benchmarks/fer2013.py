"""FER2013: train on Training (validation carved from it), test once on PublicTest, one run per recipe.

    .venv/bin/python benchmarks/fer2013.py [--recipes fer2013/res48_fn2en fer2013/res48_scratch] [--runs ~/runs]

Recipes are files, benchmarks/recipes/fer2013/*.toml. A recipe that starts from another's trunk
(``trunk_from``, e.g. the stage-1 pre-training) runs that one first; each row of the JSON says which
recipe file and code commit produced it, with the command that reproduces it. Runs resume: rerun the
same command after a kill. An edited recipe is a new config, and its old run dir refuses to resume.

Rows from before 2026-11-29 (compact, fast, fast_long...) selected their epoch on PublicTest itself
(the folder release has no PrivateTest); since then validation is carved from Training.
"""

from common import official_split_benchmark

if __name__ == "__main__":
    official_split_benchmark(
        "fer2013",
        "PublicTest",
        "publictest_accuracy",
        "FER2013: train on Training (validation carved from it), test on PublicTest (3,589)",
        __doc__,
    )
