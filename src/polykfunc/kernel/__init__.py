"""polykfunc.kernel: read kfunc structure from a kernel source tree, and compare models with it.

- :mod:`.scan` finds the files of a tree worth parsing (a text prefilter);
- :mod:`.preproc` tracks ``#if`` guards and lexes the BTF macro lists line by line;
- :mod:`.cparse` reads C structure with tree-sitter (definitions, initializers, calls);
- :mod:`.inventory` holds the facts, each with its file and line;
- :mod:`.importer` runs the above over a tree (two processes) into an :class:`Inventory`;
- :mod:`.generate` writes the generated structural model (the generic layer);
- :mod:`.drift` compares a model's structural facts with an inventory.
"""
