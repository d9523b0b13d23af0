"""Reads a PROV-JSON document with the W3C PROV implementation for Python
(the `prov` package) and prints what it found, as JSON, for the PROV export
test to compare with what it expects.

Usage: read_prov.py DOCUMENT.json

Prints {"entity": [ids], "activity": [ids], "agent": [ids],
"relations": {kind: count}, "dangling": [relations naming an undeclared
element], "round_trip": bool}. Exits 1 if the document does not parse.
"""

import json
import sys

from prov.model import ProvDocument, ProvElement, ProvRelation


def main(path: str) -> int:
    try:
        doc = ProvDocument.deserialize(source=path, format="json")
    except Exception as error:  # the library raises many kinds; all mean "not PROV"
        print(f"read_prov.py: {path} is not PROV-JSON the prov package reads: {error!r}", file=sys.stderr)
        return 1

    elements = {"entity": [], "activity": [], "agent": []}
    declared = set()
    relations = {}
    dangling = []
    for record in doc.get_records():
        if isinstance(record, ProvElement):
            kind = record.get_type().localpart.lower()
            elements[kind].append(str(record.identifier))
            declared.add(record.identifier)
    for record in doc.get_records(ProvRelation):
        name = type(record).__name__
        relations[name] = relations.get(name, 0) + 1
        # The first two formal attributes are the relation's ends.
        for _, end in list(record.formal_attributes)[:2]:
            if end is not None and end not in declared:
                dangling.append(f"{name} names {end}")

    # What the library writes back, it must read back as the same document.
    again = ProvDocument.deserialize(content=doc.serialize(format="json"), format="json")
    summary = {
        **{kind: sorted(ids) for kind, ids in elements.items()},
        "relations": relations,
        "dangling": dangling,
        "round_trip": again == doc,
    }
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(64)
    sys.exit(main(sys.argv[1]))
