"""The gateway's pure rules: unit normalisation, profile translation, capability parsing.

No I/O, no clock, no OCPP library here: the adapters turn wire payloads into these plain values.
"""
