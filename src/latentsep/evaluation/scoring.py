"""Scoring separation methods on test tracks against their ground-truth stems.

A *case* is one test track's "other" stem and the instruments inside it, in the model's
format. A *method* maps a case to a :class:`~latentsep.separation.Separation`; every
registered method of :mod:`latentsep.separation` (the oracles too) becomes one with
:func:`methods_for`. Results are
two tables, cached as CSV: ``scores`` (one row per track × method × true source) and
``runs`` (one row per track × method: sources found, time, the study's cluster statistics).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm  # text bars: tqdm.auto draws widgets, raw JSON in a saved page

from latentsep import separation
from latentsep.audio import prepare
from latentsep.evaluation import metrics
from latentsep.models.autoencoder import Autoencoder
from latentsep.paths import atomic_write
from latentsep.presets import ModelConfig

#: Bump when a change to the code changes the numbers, so cached tables are recomputed.
EVALUATION_VERSION = 5

#: The targets the book and the benchmarks measure against (issue 6, then issue 12).
TARGETS = {"median SI-SDRi (dB)": 8.0, "count right (%)": 80.0, "seconds for 180 s": 10.0}
#: Issue 23's targets beside them: the same median on unseen timbres, and a 3-minute 44.1 kHz
#: stereo song separated by the default method.
TARGETS_UNSEEN = {"median SI-SDRi (dB)": 5.0, "seconds for a 180 s song": 30.0}
#: Issue 45's, on real recordings (the development set; the held-back sets must agree): the
#: best method without stems, and counting.
TARGETS_REAL = {"median SI-SDRi (dB)": 6.0, "count right (%)": 70.0}
#: Issue 24's: the method that needs no model, as a share of NMF's oracle grouping's gain.
TARGET_MODEL_FREE_SHARE = 70.0

#: The study's four ways of clustering latent frames (chapter 04).
STUDY_METHODS = separation.method_names("study")
#: The study's floor and the methods of chapter 06; none uses ground-truth stems.
BEYOND_METHODS = separation.method_names("beyond")
#: Trained on the instruments' stems: the architecture's ceiling, beside the methods above.
SUPERVISED = separation.method_names("supervised")
#: Learned from the rendered stems of *other* pieces (the train split, several soundfonts):
#: they never see the stems of the music they separate (issue 23).
STEMS = separation.method_names("stems")
#: Every method that separates without the stems of the music it is given.
WITHOUT_STEMS = BEYOND_METHODS + STEMS
#: The floor and the ceiling every table shows; NMF's ceiling where NMF is compared.
REFERENCES = ["mixture", "oracle IRM"]
NMF_CEILING = "NMF, oracle grouping"


@dataclass
class Case:
    track: str
    mixture: np.ndarray  # the "other" stem, (channels, samples)
    references: dict[str, np.ndarray]  # instrument class -> its part of the stem
    rate: int

    @property
    def n_sources(self) -> int:
        return len(self.references)


CaseMethod = Callable[[Case], separation.Separation]


def cases(tracks, cfg: ModelConfig) -> list[Case]:
    """The tracks' "other" stems and their instruments, resampled and mixed like the model's
    input. Instruments silent in the excerpt are not sources; tracks with fewer than two
    sounding instruments are left out."""
    out = []
    for t in tracks:
        mixture, *parts = prepare([t.stems["other"], *t.other_parts.values()], t.rate, cfg)
        energy = np.sum(mixture.astype(np.float64) ** 2)
        refs = {
            n: x
            for n, x in zip(t.other_parts, parts, strict=True)
            if np.sum(x.astype(np.float64) ** 2) > 1e-6 * energy
        }
        if len(refs) >= 2:
            out.append(Case(t.name, mixture, refs, cfg.sample_rate))
    return out


def methods_for(
    names,
    model: Autoencoder | None,
    oracle_count: bool = True,
    seed: int = 0,
    separators: dict | None = None,
) -> dict[str, CaseMethod]:
    """Each registered method name as a method on cases. ``oracle_count`` gives each the
    true number of instruments (else it is estimated); the references always get it, and
    the oracles the true sources; learned methods get their network from ``separators``
    (method name -> trained separator)."""

    def make(name: str) -> CaseMethod:
        spec = separation.get_method(name)

        def method(case: Case) -> separation.Separation:
            n = case.n_sources if oracle_count or "reference" in spec.tags else None
            refs = list(case.references.values()) if spec.needs_references else None
            return separation.separate(
                case.mixture,
                model,
                name,
                n,
                rate=case.rate,
                seed=seed,
                references=refs,
                separator=(separators or {}).get(name),
                name=case.track,
            )

        return method

    return {name: make(name) for name in names}


def evaluate(
    cases: list[Case],
    methods: dict[str, CaseMethod],
    cache: Path | None = None,
    bss: bool = True,
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score every method on every case against the true sources.

    Args:
        cases: from :func:`cases`.
        methods: name -> method on a case (:func:`methods_for`).
        cache: a folder: the tables are read from it when it holds them, else computed and
            written there (atomically).
        bss: compute BSSEval v4 (SDR/SIR/SAR, ~100× the time of SI-SDR) besides SI-SDR.

    Returns:
        ``(scores, runs)``: one row per track × method × true source (SI-SDR, SI-SDRi and,
        with ``bss``, SDR/SIR/SAR/SDRi, all in dB), and one row per track × method (sources
        found, seconds, × real time, the study's cluster statistics).
    """
    if cache is not None and (Path(cache) / "runs.csv").is_file():
        return pd.read_csv(Path(cache) / "scores.csv"), pd.read_csv(Path(cache) / "runs.csv")
    scores, runs = [], []
    for case in tqdm(cases, desc="evaluating", disable=not progress):
        refs = list(case.references.values())
        base = metrics.bss_eval(refs, [case.mixture] * len(refs), case.rate) if bss else None
        for name, method in methods.items():
            sep = method(case)
            info = {"track": case.track, "method": name}
            runs.append(
                {
                    **info,
                    "true sources": case.n_sources,
                    "sources found": sep.n_sources,
                    "seconds": sep.seconds,
                    "× real time": case.mixture.shape[-1] / case.rate / max(sep.seconds, 1e-9),
                    **metrics.cluster_statistics(case.mixture, sep.sources),
                }
            )
            rows = metrics.separation_scores(
                case.references, sep.sources, case.mixture, case.rate, bss, base
            )
            scores.extend({**info, **row} for row in rows)
    scores_df, runs_df = pd.DataFrame(scores), pd.DataFrame(runs)
    if cache is not None:
        cache = Path(cache)
        atomic_write(cache / "scores.csv", lambda tmp: scores_df.to_csv(tmp, index=False))
        atomic_write(cache / "runs.csv", lambda tmp: runs_df.to_csv(tmp, index=False))
    return scores_df, runs_df


def median_by_method(scores: pd.DataFrame, column: str = "SI-SDRi (dB)", order=None) -> pd.Series:
    """The median of one metric over all (track, source) pairs, per method: the number the
    chapters, the results table and the benchmarks quote."""
    med = scores.groupby("method", sort=False)[column].median()
    return med.reindex(order) if order is not None else med


def summary(scores: pd.DataFrame, columns=None, order=None) -> pd.DataFrame:
    """Median and interquartile range over all (track, source) pairs, per method."""
    columns = columns or [c for c in scores.columns if c.endswith("(dB)")]
    g = scores.groupby("method", sort=False)[columns]
    med = g.median()
    iqr = g.quantile(0.75) - g.quantile(0.25)
    table = pd.concat({"median": med, "IQR": iqr}, axis=1).swaplevel(axis=1)
    table = table[[(c, s) for c in columns for s in ("median", "IQR")]]
    return table.reindex(order) if order is not None else table


def count_sources(
    cases: list[Case],
    model: Autoencoder,
    ks=(2, 3, 4),
    seed: int = 0,
    separators: dict | None = None,
    rules: bool = True,
) -> pd.DataFrame:
    """How many instruments each counting rule finds in each case, beside the truth
    (with ``separators``, also each learned method's sounding outputs; without ``rules``,
    only those)."""
    from latentsep.separation import clustering, latents, nmf

    def by_rules(case: Case) -> dict[str, int]:
        x = clustering.features(latents.encode(model, case.mixture))
        return {
            "latent silhouette": clustering.choose_k(x, ks, "silhouette", seed),
            "latent eigengap": clustering.choose_k(x, ks, "eigengap", seed),
            "DBSCAN clusters": int(clustering.cluster(x, "dbscan", None, seed).max() + 1),
            "NMF timbre silhouette": len(
                set(nmf.separate(case.mixture, None, seed=seed, ks=ks)[1])
            ),
            "NMF harmonic silhouette": separation.separate(
                case.mixture, None, "nmf+harmonic", None, rate=case.rate, seed=seed, ks=ks
            ).n_sources,
        }

    rows = []
    for case in cases:
        rows.append(
            {
                "track": case.track,
                "true": case.n_sources,
                **(by_rules(case) if rules else {}),
                **{
                    f"{name} sounding outputs": separation.separate(
                        case.mixture, None, name, None, rate=case.rate, ks=ks, separator=net
                    ).n_sources
                    for name, net in (separators or {}).items()
                },
            }
        )
    return pd.DataFrame(rows)


def count_accuracy(counts: pd.DataFrame) -> pd.DataFrame:
    """Per counting rule of :func:`count_sources`: how often it is right and the mean count
    it finds, beside the baseline of always answering the most common true count."""
    rules = counts.columns.drop(["track", "true"])
    table = pd.DataFrame(
        {
            "right (%)": [100 * float((counts[r] == counts["true"]).mean()) for r in rules],
            "mean found": [float(counts[r].mean()) for r in rules],
        },
        index=rules,
    )
    common = counts["true"].mode().iloc[0]
    table.loc["always the most common count"] = [
        100 * float((counts["true"] == common).mean()),
        float(common),
    ]
    return table


def long_excerpt(cases: list[Case], seconds: float) -> np.ndarray:
    """The cases' stems end to end, looped up to ``seconds``: a long track for timing."""
    joined = np.concatenate([c.mixture for c in cases], axis=-1)
    n = int(seconds * cases[0].rate)
    return np.tile(joined, (1, -(-n // joined.shape[-1])))[:, :n]


def speed(
    cases: list[Case],
    names,
    model: Autoencoder | None,
    seconds: float = 180.0,
    seed: int = 0,
    separators: dict | None = None,
) -> pd.DataFrame:
    """Wall-clock time of each method on a :func:`long_excerpt` of ``seconds``, separated
    into 3 sources."""
    x = long_excerpt(cases, seconds)
    rows = []
    for name in names:
        sep = separation.separate(
            x,
            model,
            name,
            3,
            seed=seed,
            separator=(separators or {}).get(name),
            name=f"{seconds:g} s excerpt",
        )
        rows.append({"method": name, "seconds": sep.seconds, "× real time": seconds / sep.seconds})
    return pd.DataFrame(rows).set_index("method")


def stage1_scores(separator, tracks, rate: int, progress: bool = True):
    """BSSEval v4 of the "other" estimate against the ground truth, per track.

    The mixture itself is scored as an estimate too: the baseline every method must beat.
    Returns (table, estimates by track name).
    """
    import pandas as pd

    from latentsep.models.openunmix import separate_other

    rows, estimates = [], {}
    for t in tqdm(tracks, desc="stage-1 evaluation", disable=not progress):
        other = t.stems["other"]
        rest = t.mixture - other
        est = separate_other(separator, t.mixture, rate)
        estimates[t.name] = est
        # The mixture baseline gives the mixture as every source (as SiSEC's "Mix").
        for method, e, r in (
            ("Open-Unmix", est, t.mixture - est),
            ("mixture (no separation)", t.mixture, t.mixture),
        ):
            scores = metrics.bss_eval([other, rest], [e, r], rate)
            rows.append(
                {
                    "track": t.name,
                    "method": method,
                    "SDR": scores["SDR"][0],
                    "SIR": scores["SIR"][0],
                    "SAR": scores["SAR"][0],
                    "ISR": scores["ISR"][0],
                    "SI-SDR": metrics.si_sdr(other, e),
                }
            )
    return pd.DataFrame(rows), estimates
