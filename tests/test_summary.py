"""The summary's readings of FID, KID and C2ST: counts, floors, no negative bound, and what an interval means."""

import re

from gig_core.summary import c2st_line, fid_line, kid_line

FID = dict(feature_extractor="inception", fid=9.0, fid_bias_corrected=1.5, fid_ci_low=-0.7, fid_ci_high=3.2,
           fid_real_n=293, fid_generated_n=293, fid_floor=8.1)


def negatives(line: str) -> list[str]:
    return re.findall(r"-\d", line)


def test_an_fid_interval_reaching_zero_reads_as_cannot_be_told_apart():
    line = fid_line(FID, 0.95)
    assert "Inception FID 9.00 at 293 real / 293 generated images" in line
    assert "floor at that N 8.10" in line
    assert "[0, 3.20]: cannot be told apart from real photos at this N" in line
    assert not negatives(line)


def test_a_clear_fid_interval_shows_its_bounds():
    line = fid_line({**FID, "fid": 150.0, "fid_bias_corrected": 130.0, "fid_ci_low": 124.0, "fid_ci_high": 135.0,
                     "fid_indistinguishable": 0.0}, 0.95)
    assert "bias-corrected 130.00, 95% interval [124.00, 135.00]" in line
    assert "cannot be told apart" not in line


def test_kid_is_shown_times_a_thousand_without_negative_bounds():
    line = kid_line(dict(kid_mean=-0.0004, kid_ci_low=-0.002, kid_ci_high=0.003, kid_floor=-0.0006), 0.95)
    assert line == "KID x10^3 0.00, 95% interval [0.00, 3.00] (real floor 0.00)"


C2ST = dict(c2st_accuracy=0.98, c2st_ci_low=0.96, c2st_ci_high=0.99, c2st_tested=294, c2st_worst_class="Watches",
            c2st_worst=1.0, c2st_floor=0.6, c2st_floor_ci_low=0.55, c2st_floor_ci_high=0.65)


def test_c2st_names_its_test_size_worst_class_and_floor():
    line = c2st_line(C2ST, 0.95)
    assert "C2ST accuracy 0.980, 95% interval [0.960, 0.990] on 294 test images" in line
    assert "1: trivially fake" in line and "easiest to spot: Watches 1.00" in line
    assert "real photos at the model's resolution score 0.600 [0.550, 0.650]" in line


def test_a_c2st_interval_holding_chance_says_the_detector_cannot_tell_at_this_n():
    line = c2st_line({**C2ST, "c2st_accuracy": 0.5, "c2st_ci_low": 0.32, "c2st_ci_high": 0.68, "c2st_tested": 28}, 0.95)
    assert "on 28 test images: a detector trained here cannot tell them from real photos at this N" in line
    assert "too few to tell" in line
