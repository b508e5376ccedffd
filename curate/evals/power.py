"""How much a comparison can see: the paired bootstrap interval of a difference, the minimum
detectable difference at 80% power, and how many eval items a target detectable difference needs
(what `curate compare --items auto` uses).

An interval that straddles zero says nothing by itself: it may be a small true effect seen through
a coarse instrument. The detectable difference says which: a comparison that "can only detect
differences of 0.05 or more" could not have seen the 0.02 a selection method predicts.
"""

from __future__ import annotations

import numpy as np


def bootstrap_diff(baseline: np.ndarray, treatment: np.ndarray, rounds: int = 2000, seed: int = 0,
                   level: float = 0.95, paired_seeds: bool = False) -> dict:
    """`baseline`, `treatment`: (seeds, items) score matrices over the same items. Mean difference
    (treatment - baseline), its interval, and the verdict.

    Items are always resampled for both arms together. Seeds are resampled within each arm, or,
    with `paired_seeds`, together: row k of both arms was trained with seed k (the same LoRA
    initialisation and the same record-keyed example order), so seed k's difference is one unit,
    and what both arms share by seed cancels instead of counting as noise."""
    baseline, treatment = np.atleast_2d(baseline), np.atleast_2d(treatment)
    if baseline.shape[1] != treatment.shape[1]:
        raise ValueError("both arms must be scored on the same items")
    if paired_seeds and baseline.shape[0] != treatment.shape[0]:
        raise ValueError("paired seeds need the same seeds in both arms")
    rng = np.random.default_rng(seed)
    n_items = baseline.shape[1]
    diffs = np.empty(rounds)
    for k in range(rounds):
        items = rng.integers(0, n_items, n_items)
        sb = rng.integers(0, baseline.shape[0], baseline.shape[0])
        st = sb if paired_seeds else rng.integers(0, treatment.shape[0], treatment.shape[0])
        diffs[k] = treatment[np.ix_(st, items)].mean() - baseline[np.ix_(sb, items)].mean()
    lo, hi = np.quantile(diffs, [(1 - level) / 2, 1 - (1 - level) / 2])
    diff = float(treatment.mean() - baseline.mean())
    verdict = "better" if lo > 0 else "worse" if hi < 0 else "inconclusive"
    mde = detectable(float(diffs.std(ddof=1)))
    return {"baseline": float(baseline.mean()), "treatment": float(treatment.mean()), "diff": diff,
            "low": float(lo), "high": float(hi), "level": level, "verdict": verdict,
            "seeds": [int(baseline.shape[0]), int(treatment.shape[0])], "items": int(n_items),
            "detectable": round(mde, 4)}


Z_95, Z_80 = 1.959964, 0.841621      # two-sided 5% test; 80% power


def detectable(standard_error: float) -> float:
    """The smallest true difference this comparison finds with 80% power at the 5% level: (z_0.975 +
    z_0.8) standard errors of the difference, the standard error read off the bootstrap."""
    return (Z_95 + Z_80) * standard_error


def items_needed(result: dict, target: float) -> int:
    """About how many eval items would make `target` detectable, if the spread is mostly between
    items (it falls as 1/sqrt(items)); seed-to-seed spread does not fall with more items."""
    if result["detectable"] <= 0:
        return result["items"]
    return int(np.ceil(result["items"] * (result["detectable"] / target) ** 2))


def power_note(result: dict) -> str:
    """One plain sentence on what this comparison could have found."""
    mde = result["detectable"]
    if mde == 0:
        return "the scores did not vary between items or seeds, so no difference could be measured"
    if result["verdict"] != "inconclusive":
        return f"it could detect differences of {mde:.3f} or more"
    half = mde / 2
    return (f"it can only detect differences of {mde:.3f} or more; to see {half:.3f}, use about "
            f"{items_needed(result, half):,} items")


def items_for_target(pilot: dict, target: float, pilot_limit: int, cap: int) -> tuple[int, str]:
    """`--items auto`: from a pilot comparison on the first `pilot_limit` items of each group, the
    items per group that make `target` detectable (by `items_needed`), with at most `cap` items in
    all. Returns (items per group, a sentence saying what was chosen and whether the cap binds)."""
    if pilot["detectable"] <= target:
        return pilot_limit, (f"{pilot['items']} items already detect {target:.3f} "
                             f"(detectable {pilot['detectable']:.3f})")
    needed = items_needed(pilot, target)
    total = min(needed, cap)
    per_group = max(pilot_limit, int(np.ceil(pilot_limit * total / max(pilot["items"], 1))))
    if needed > cap:
        reach = pilot["detectable"] * np.sqrt(pilot["items"] / cap)
        return per_group, (f"{target:.3f} needs about {needed:,} items, over the cap of {cap:,}; "
                           f"{cap:,} items should detect about {reach:.3f}")
    return per_group, f"about {needed:,} items to detect {target:.3f} (pilot: {pilot['items']} items detect " \
                      f"{pilot['detectable']:.3f})"
