"""eval/calibration.py: temperature scaling finds the temperature that generated the labels, never changes a
prediction, and lowers the expected calibration error of an over-confident model."""

import numpy as np

from facenet2expnet.eval.calibration import (
    calibration_summary,
    expected_calibration_error,
    fit_temperature,
    nll,
    reliability,
    softmax,
)


def _sampled(t_true: float, n: int = 20000, k: int = 7, seed: int = 0):
    """Logits and labels drawn from softmax(logits / t_true): the model's confidence is off by exactly t_true."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, (n, k))
    p = softmax(logits, t_true)
    labels = (rng.random((n, 1)) > p.cumsum(1)).sum(1)
    return logits, np.minimum(labels, k - 1)


def test_the_fitted_temperature_is_the_one_that_made_the_labels():
    for t_true in (0.5, 1.0, 2.5):
        logits, labels = _sampled(t_true)
        t = fit_temperature(logits, labels)
        assert abs(t - t_true) / t_true < 0.05, (t, t_true)
        assert nll(logits, labels, t) <= min(nll(logits, labels, t * 1.2), nll(logits, labels, t / 1.2))


def test_temperature_lowers_the_error_of_an_over_confident_model_and_keeps_every_prediction():
    logits, labels = _sampled(2.5)  # the model's logits are 2.5x too sharp
    summary = calibration_summary(logits[:10000], labels[:10000], logits[10000:], labels[10000:])
    assert summary["test_ece"] > 0.1 and summary["test_ece_calibrated"] < 0.02
    t = summary["temperature"]
    assert (softmax(logits, t).argmax(1) == logits.argmax(1)).all()


def test_reliability_bins_cover_every_face_and_the_ece_reads_them():
    logits, labels = _sampled(1.0, n=3000)
    probs = softmax(logits)
    bins = reliability(probs, labels)
    assert sum(b["n"] for b in bins) == 3000 and all(b["lo"] < b["confidence"] <= b["hi"] for b in bins)
    always_sure = np.eye(7)[labels]  # confidence 1 and always right: calibrated
    assert expected_calibration_error(always_sure, labels) == 0.0
    assert abs(expected_calibration_error(np.eye(7)[(labels + 1) % 7], labels) - 1.0) < 1e-9  # sure and wrong


def test_bundled_cards_carry_the_temperatures_that_benchmarks_calibration_fitted():
    """Each bundled recognizer's temperature is the one benchmarks/calibration.py fitted on its validation faces
    (calibration.json); a model it left out (no unreported face to fit on) has none, so its probabilities are raw."""
    import json
    import pathlib

    from facenet2expnet.files import read_json
    from facenet2expnet.models.pretrained import bundled_model_path

    results = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "calibration.json"
    rows = json.loads(results.read_text())["rows"]
    assert rows and any("temperature" in r for r in rows)
    for r in rows:
        meta = read_json(bundled_model_path(r["model"]) + ".json")
        assert meta.get("temperature") == r.get("temperature"), r["model"]
        if "temperature" in r:
            # the same carve as in training: the card's validation accuracy again, to float16 rounding (a face or two);
            # a model scored on faces it trained on would be far above it
            assert abs(r["val_accuracy"] - r["card_val_accuracy"]) < 0.005 or r["model"].endswith("-int8")
