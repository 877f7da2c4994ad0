"""The parts of the `cadenza` command (`cadenza/cli.py` parses and dispatches).

- `_args`: argument types that refuse bad values with one line (exit 2).
- `_logs`: the CLI configures logging (it is an application; the library never does).
- `_inspect`: `runs` and `show`, read-only beside a live owner.
- `_bench`: `bench NAME`, the packaged benchmarks (`cadenza.bench`) as JSON.
- `_operate`: the operator's controls, through `--server URL` or on a `--db FILE`.
"""
