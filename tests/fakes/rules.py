"""Fake of the business rule store (chalicelib/rules/service.py RuleStore)."""
from __future__ import annotations

import copy


class FakeRuleStore:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str, str], object] = {}

    def put_many(self, rules):
        for rule in rules:
            self.items[(rule.country, rule.identifier, rule.version)] = copy.deepcopy(rule)

    def for_country(self, country):
        return [copy.deepcopy(rule) for key, rule in sorted(self.items.items()) if key[0] == country]

    def all(self):
        return [copy.deepcopy(rule) for _, rule in sorted(self.items.items())]
