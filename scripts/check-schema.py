#!/usr/bin/env python3
"""Validates rule files against schemas/rules.schema.json (JSON Schema 2020-12).

Usage: check-schema.py FILE...   Exit 0 when all are valid; prints each problem otherwise.
"""
import json
import pathlib
import sys

import jsonschema
import yaml


def yaml_12_loader():
    # Rule files use the YAML 1.2 core schema: `on`, `yes`, `NO` are strings, as in the broker.
    class Loader(yaml.SafeLoader):
        pass
    Loader.yaml_implicit_resolvers = {k: [r for r in v if r[0] != "tag:yaml.org,2002:bool"]
                                      for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    import re
    Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                 list("tTfF"))
    return Loader


def main(paths):
    root = pathlib.Path(__file__).resolve().parent.parent
    schema = json.loads((root / "schemas/rules.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    failed = 0
    for path in paths:
        document = yaml.load(pathlib.Path(path).read_text(), Loader=yaml_12_loader())
        for error in validator.iter_errors(document):
            failed += 1
            where = "/".join(str(p) for p in error.absolute_path)
            print(f"{path}: {where}: {error.message[:300]}")
    print(f"{len(paths)} file(s) checked, {failed} problem(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
