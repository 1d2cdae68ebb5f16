"""Every cached artifact of the book, declared once: its parameters, its inputs, its code
version and its folder (showyourwork's rules are the model).

An artifact's key is a hash of everything that shapes it: its parameters, the code version
that makes it, and its inputs' keys — so a changed dataset retrains the models built on it,
and changed training code retrains them too. The chain::

    dataset ──► stage-1 model (Open-Unmix) ──► stage-1 estimates
       │                                            │ (train.target = "openunmix")
       ├──────────────► autoencoder ◄───────────────┘
       ├──► networks (MixIT, PIT, stem network, dictionaries)
       └───────────────┴─────────────────┴──► evaluation tables (per method, tracks, seed),
                                                  counts and speed (shared by book and bench)

Each artifact lives in ``data/<folder>/<key>/``; when the pipeline makes one it writes
``artifact.json`` beside it (parameters, inputs, seconds taken), which ``latentsep status``
reads.

Expensive artifacts are also *shipped*: trained once and committed under
``shipped/<folder>/<key>/`` with a checksum of every file and the machine and time that made
them (``shipped/manifest.json``, written by :func:`ship`). An artifact that is not cached
is copied from there when its key matches — the key holds the code version, the inputs and
the parameters, so a shipped file is only ever used for exactly what made it — and made
here otherwise; ``LATENTSEP_RETRAIN=1`` (``make book RETRAIN=1``) ignores them all.

One module a job:

- :mod:`~latentsep.pipeline.artifacts`: the cache (keys, restore from ``shipped/``, forget);
- :mod:`~latentsep.pipeline.datasets`: the embedded dataset, its renderings, validation pieces;
- :mod:`~latentsep.pipeline.autoencoders`: stage 1 and the autoencoders;
- :mod:`~latentsep.pipeline.networks`: the learned methods' networks and :data:`NETWORKS`,
  the one table from a method's network to its artifact and loader;
- :mod:`~latentsep.pipeline.evaluations`: scores, counts and speed on the test sets, real sets;
- :mod:`~latentsep.pipeline.shipping`: what is shipped, and what is stale;
- :mod:`~latentsep.pipeline.status`: ``latentsep status``.

Everything is re-exported here: ``pipeline.network(...)`` as before.
"""

from __future__ import annotations

from latentsep.pipeline.artifacts import (
    DONE,
    MADE_HERE,
    META,
    RESTORED,
    SHIPPED,
    Artifact,
    forget,
    is_cached,
    origin,
    retraining,
    shipped_dir,
    shipped_manifest,
    size_mb,
    without_shipped,
)
from latentsep.pipeline.autoencoders import (
    AUTOENCODER_VARIANTS,
    autoencoder,
    autoencoder_artifact,
    autoencoders,
    model_ready,
    stage1,
    stage1_artifact,
    stage1_estimates,
    targets,
    train_or_load,
    trained_model,
)
from latentsep.pipeline.datasets import (
    PLAN_FILE,
    UNSEEN_SOUNDFONT,
    VALIDATION_PIECES,
    dataset,
    dataset_artifact,
    plan_artifact,
    real_dev_set,
    real_song,
    rendered_tracks,
    rendering_artifact,
    stemnet_data,
    track_plan,
    tracks,
    tracks_key,
    unseen_tracks,
    validation_artifact,
    validation_data,
    validation_tracks,
)
from latentsep.pipeline.evaluations import (
    ScoresKey,
    TableKey,
    TestSet,
    evaluate_real,
    evaluate_test_set,
    evaluation_artifact,
    evaluation_problem,
    method_speed,
    method_versions,
    multitrack_methods,
    real_scores_dir,
    source_counts,
)
from latentsep.pipeline.networks import (
    COMBINED,
    COUNT_FILE,
    COUNT_MODEL_VERSION,
    DICTIONARY_ATOMS,
    DICTIONARY_VERSION,
    NETWORKS,
    NOTE_DICTIONARY_VERSION,
    NOTE_MARGIN,
    NOTE_SECONDS,
    NOTE_VELOCITY,
    PAIR_MEMBERS,
    PAIR_PIECES,
    Loaded,
    Network,
    blind_methods,
    count_model,
    count_model_artifact,
    count_pieces,
    dictionaries,
    dictionaries_artifact,
    mask_network,
    mask_network_artifact,
    method_limit,
    missing,
    network,
    network_artifact,
    note_dictionaries,
    note_dictionaries_artifact,
    pair_examples,
    pair_network,
    pair_network_artifact,
    played_case,
    ready,
    refined_from,
    stemnet_artifact,
    stemnet_model,
    stemnet_parts,
    stemnet_validation,
)
from latentsep.pipeline.shipping import (
    SHIPPED_TABLES,
    current_shipped,
    evaluation_is_current,
    prune,
    ship,
    shippable,
    shippable_evaluations,
)
from latentsep.pipeline.status import (
    status,
)

__all__ = [
    "META",
    "Artifact",
    "SHIPPED",
    "RESTORED",
    "MADE_HERE",
    "origin",
    "shipped_dir",
    "shipped_manifest",
    "retraining",
    "without_shipped",
    "forget",
    "DONE",
    "is_cached",
    "size_mb",
    "dataset_artifact",
    "plan_artifact",
    "PLAN_FILE",
    "track_plan",
    "dataset",
    "tracks",
    "UNSEEN_SOUNDFONT",
    "rendering_artifact",
    "rendered_tracks",
    "unseen_tracks",
    "stemnet_data",
    "VALIDATION_PIECES",
    "validation_data",
    "validation_artifact",
    "validation_tracks",
    "tracks_key",
    "real_dev_set",
    "real_song",
    "stage1_artifact",
    "stage1",
    "stage1_estimates",
    "autoencoder_artifact",
    "targets",
    "train_or_load",
    "autoencoder",
    "autoencoders",
    "trained_model",
    "model_ready",
    "AUTOENCODER_VARIANTS",
    "mask_network_artifact",
    "mask_network",
    "stemnet_artifact",
    "refined_from",
    "stemnet_parts",
    "stemnet_validation",
    "stemnet_model",
    "DICTIONARY_ATOMS",
    "DICTIONARY_VERSION",
    "dictionaries_artifact",
    "dictionaries",
    "NOTE_VELOCITY",
    "PAIR_MEMBERS",
    "PAIR_PIECES",
    "NOTE_SECONDS",
    "NOTE_MARGIN",
    "NOTE_DICTIONARY_VERSION",
    "note_dictionaries_artifact",
    "pair_examples",
    "pair_network",
    "pair_network_artifact",
    "played_case",
    "note_dictionaries",
    "Loaded",
    "Network",
    "COMBINED",
    "COUNT_FILE",
    "COUNT_MODEL_VERSION",
    "NETWORKS",
    "missing",
    "blind_methods",
    "count_model",
    "count_model_artifact",
    "count_pieces",
    "ready",
    "network_artifact",
    "network",
    "method_limit",
    "method_versions",
    "TestSet",
    "ScoresKey",
    "TableKey",
    "evaluation_artifact",
    "evaluate_test_set",
    "real_scores_dir",
    "evaluation_problem",
    "multitrack_methods",
    "evaluate_real",
    "source_counts",
    "method_speed",
    "ship",
    "prune",
    "shippable",
    "SHIPPED_TABLES",
    "shippable_evaluations",
    "evaluation_is_current",
    "current_shipped",
    "status",
]
