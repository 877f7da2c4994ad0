"""Several processes on one journal: which runs are ours, and what crosses to the others.

`_ownership` says which runs this process may act on; `_foreign` stands in
for a run another process owns (it reads, never writes); `_inbox_codec` and
`_inbox_outcome` are the JSON a call and its answer carry between processes.
"""
