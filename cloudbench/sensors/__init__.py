"""Sensors as plug-ins: the imager and label product interfaces and the registry the stages ask.

See :mod:`cloudbench.sensors.base` for the two interfaces and :mod:`cloudbench.sensors.registry` for
how products are found (built-ins, entry points ``cloudbench.imagers`` / ``cloudbench.labels``, or
:func:`~cloudbench.sensors.registry.register_imager` at run time).
"""
