"""``make bench``: the real DAG tasks against the sandbox at scale, with figures, goals and a chart.

Modules: :mod:`.machine` (where the figures come from), :mod:`.worker` (one task in a process of its
own, with its peak RSS), :mod:`.world` (a sandbox, connections and DAG runs), :mod:`.scenarios` (what is
measured), :mod:`.naive` (the generic search-then-write baseline), :mod:`.report` (JSON, markdown, chart)
and :mod:`.cli` (profiles and the command).
"""
