"""FER+: refine on train (majority, probability or cross-entropy label modes), choose the epoch on valid, report valid.

    .venv/bin/python benchmarks/ferplus.py [--recipes ferplus/fast_majority_10ep ...] [--runs ~/runs]

Recipes are files, benchmarks/recipes/ferplus/*.toml. They start from the label-free FER2013 stage-1 trunks
(``trunk_from``; FER+ train is FER2013 Training, relabelled, and valid is PublicTest, which stage 1 never saw).
FER+'s test split is not in ../shared, so valid is both where the epoch is chosen and what is reported, against
the majority labels (the standard FER+ metric); each row also gives valid without the 264 images whose pixels
repeat a training image (``subsets.no_train_duplicates``). Runs resume: rerun the same command after a kill.
"""

from common import official_split_benchmark

if __name__ == "__main__":
    official_split_benchmark(
        "ferplus",
        "valid",
        "valid_accuracy",
        "FER+: train on train (26,937), epoch chosen on valid (3,396), valid reported (no test split shared)",
        __doc__,
    )
