"""The transaction pipeline: commands gathered into groups, each group applied in one transaction.

What a command does to a cart is decided by its action's handler (`hashcart.actions`); this
package reads what a group needs, hands every command to its handler and writes what they
changed with one statement per kind. `hashcart.pipeline.applier.Applier` is its entry.
"""
