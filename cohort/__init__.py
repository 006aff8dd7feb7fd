"""Studies: many recordings replayed as one cohort on a Dask cluster.

``manifest`` turns a manifest CSV (or a folder of recordings) into checked ``RecordingSpec``s,
``task`` replays one recording on a worker into its participant folder (atomically, with a
``done.json`` that makes the run resumable), ``daily`` reads a participant's per-day figures,
``tables`` and ``report`` put every participant side by side, and ``runner`` drives the cluster
that ``cluster`` starts (local workers forked from ``workerserver``, set up by ``workerenv``) or
connects to; ``timeline`` says where a run's time went.
"""
