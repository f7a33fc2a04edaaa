"""Reconciliation: tell the CRM what changed in sevDesk on the objects it is linked to.

sevDesk leads (CONTRACT section 10). Per tenant and kind (contacts, parts, documents) a run lists
what changed since its cursor, maps each linked object to the state the CRM holds (`state`) and
tells a difference once (`contact.changed`, `part.changed`, `document.status_changed`); a linked
object that is gone is marked broken and told as `link.broken`. The modules import nothing heavy
here, so that the pure `state` module stays pure.
"""
