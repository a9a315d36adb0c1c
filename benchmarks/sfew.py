"""SFEW 2.0, the paper's in-the-wild dataset: train on Train (validation carved from it), test once on Val.

    .venv/bin/python benchmarks/sfew.py [--recipes sfew/fn2en sfew/scratch ...] [--runs ~/runs] [--threads 1]

The paper reports 55.15% on Val. Recipes are files, benchmarks/recipes/sfew/*.toml; each first runs
`facenet2expnet prepare --no-face whole` (cached in RUNS/prepared/sfew), which aligns every image to
the teacher's 5-point chip and keeps the centre square of the 63 images where no face is found, so all
431 Val images, the 12 blank ones included, are in the test set. Runs resume: rerun the same command.
"""

from common import official_split_benchmark

if __name__ == "__main__":
    official_split_benchmark(
        "sfew",
        "Val",
        "test_accuracy",
        "SFEW 2.0: train on Train (validation carved from it), test on all 431 Val images",
        __doc__,
    )
