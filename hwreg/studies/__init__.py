"""Studies: the demo, the bit-width x sparsity sweep and their reports.

Each study calls the library with typed configs (never argv) and writes a folder of results;
its report reads only what the stages wrote. :mod:`.demo` (``hwreg demo``, ``make demo``),
:mod:`.sweep_plan` / :mod:`.sweep` / :mod:`.sweep_report` (``hwreg sweep``), :mod:`.report` and
:mod:`.figures` (the demo report), :mod:`.demo_layout` (what the demo writes where).
"""
