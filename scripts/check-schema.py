#!/usr/bin/env python3
"""Validates YAML files against the JSON schemas in schemas/, as an editor would.

Usage: check-schema.py [--schema SCHEMA] FILE...

Each file is checked against the schema its `# yaml-language-server: $schema=PATH` modeline
names (PATH relative to the file), or against SCHEMA. The schemas are checked to be JSON Schema
draft-07, the draft the YAML language server implements, and to use no keyword of a later draft
(a draft-07 validator silently ignores those: a schema relying on `unevaluatedProperties` lets
typos through in the editor). Exit 0 when all files are valid; each problem is printed as
`file: path/in/document: message`.
"""
import json
import pathlib
import re
import sys

import jsonschema
import yaml

LATER_KEYWORDS = {"$defs", "unevaluatedProperties", "unevaluatedItems", "dependentRequired", "dependentSchemas",
                  "prefixItems", "$anchor", "$dynamicRef", "$dynamicAnchor", "$recursiveRef", "minContains",
                  "maxContains"}
BOOL = "tag:yaml.org,2002:bool"
TIMESTAMP = "tag:yaml.org,2002:timestamp"
MODELINE = re.compile(r"^#\s*yaml-language-server:\s*\$schema=(\S+)", re.MULTILINE)


def yaml_12_loader():
    """YAML 1.2 core schema, as the broker and the YAML language server read files: `on`, `yes`
    and `NO` are strings, only true/false are booleans, and a date is a string."""
    class Loader(yaml.SafeLoader):
        pass
    Loader.yaml_implicit_resolvers = {k: [r for r in v if r[0] not in (BOOL, TIMESTAMP)]
                                      for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    Loader.add_implicit_resolver(BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                 list("tTfF"))
    return Loader


def later_keywords(node, where="#"):
    """Keywords of drafts after 07 anywhere in a schema (property names excepted)."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in LATER_KEYWORDS:
                found.append(f"{where}/{key}")
            if key != "properties":
                found += later_keywords(value, f"{where}/{key}")
            else:
                for name, sub in value.items():
                    found += later_keywords(sub, f"{where}/properties/{name}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found += later_keywords(item, f"{where}/{index}")
    return found


def read(path):
    """A schema file, refused unless it is draft-07 through and through."""
    schema = json.loads(path.read_text())
    if schema.get("$schema") != "http://json-schema.org/draft-07/schema#":
        raise SystemExit(f"{path}: $schema is not draft-07 ({schema.get('$schema')})")
    later = later_keywords(schema)
    if later:
        raise SystemExit(f"{path}: keywords a draft-07 validator ignores: {', '.join(later)}")
    jsonschema.Draft7Validator.check_schema(schema)
    return schema


class Schemas:
    """The schemas by path; relative `$ref`s between them (rule-tests → registry) resolve on disk."""

    def __init__(self):
        self.validators = {}

    def validator(self, path):
        path = path.resolve()
        if path not in self.validators:
            schema = read(path)
            for other in path.parent.glob("*.schema.json"):
                read(other)
            try:
                import referencing
                import referencing.jsonschema

                def retrieve(uri):
                    document = read(pathlib.Path(uri.removeprefix("file://")))
                    return referencing.Resource.from_contents(
                        document, default_specification=referencing.jsonschema.DRAFT7)
                registry = referencing.Registry(retrieve=retrieve).with_resource(
                    path.as_uri(), referencing.Resource.from_contents(
                        schema, default_specification=referencing.jsonschema.DRAFT7))
                validator = jsonschema.Draft7Validator({"$ref": path.as_uri()}, registry=registry)
            except ImportError:
                # jsonschema before 4.18 (Debian 12's): file:// references through RefResolver.
                resolver = jsonschema.RefResolver(base_uri=path.as_uri(), referrer=schema)
                validator = jsonschema.Draft7Validator(schema, resolver=resolver)
            self.validators[path] = validator
        return self.validators[path]


def main(arguments):
    schema_override = None
    if arguments[:1] == ["--schema"]:
        schema_override = pathlib.Path(arguments[1])
        arguments = arguments[2:]
    schemas = Schemas()
    failed = 0
    for name in arguments:
        path = pathlib.Path(name)
        text = path.read_text()
        if schema_override:
            schema = schema_override
        else:
            modeline = MODELINE.search(text)
            if not modeline:
                print(f"{name}: no '# yaml-language-server: $schema=…' line names its schema")
                failed += 1
                continue
            schema = path.parent / modeline.group(1)
        try:
            document = yaml.load(text, Loader=yaml_12_loader())
        except yaml.YAMLError as error:
            print(f"{name}: not YAML the checker reads: {error}".replace("\n", " "))
            failed += 1
            continue
        for error in schemas.validator(schema).iter_errors(document):
            failed += 1
            where = "/".join(str(p) for p in error.absolute_path)
            print(f"{name}: {where}: {error.message[:300]}")
    print(f"{len(arguments)} file(s) checked, {failed} problem(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
