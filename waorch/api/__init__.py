"""The REST API: parses requests into the core's types, shapes its answers as camelCase JSON, and
answers each kind of error with its status. One route table per module, each operation's OpenAPI
description beside its handler; ``document`` assembles the OpenAPI document from the tables."""
