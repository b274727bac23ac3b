"""Development code shared by the tests and the benchmarks; not shipped with the package.

- `tools.arcadedb`: starts a throwaway ArcadeDB server that speaks Bolt.
- `tools.bolt`: empties the database of a Bolt server between tests or loads.
"""
