"""NADER's agent team: Reader, Proposer (+ modification tree), Modifier, Reflector, the
offline rule-based designer, the NADER strategy and the NAD benchmark.

Heavy modules are not imported here; import what you need from its module, e.g.
``from nas.agents.nader_strategy import NaderStrategy``.
"""

__all__: list[str] = []
