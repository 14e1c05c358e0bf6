"""Wire protocol to wearables and C export of bundles for microcontroller firmware.

Empty until its issue.
"""
