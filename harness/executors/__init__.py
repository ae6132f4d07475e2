"""Executors: where a cell's steps run.

- :mod:`~harness.executors.base`: what every executor provides (a session per cell) and
  declares (:class:`~harness.executors.base.Capabilities`: isolation, cells, devices,
  remote);
- :mod:`~harness.executors.registry`: executors by name, the built-ins (``local``,
  ``docker``) and those of the ``harness.executors`` entry points;
- :mod:`~harness.executors.local` and :mod:`~harness.executors.docker`: the built-ins,
  and the modules they share (workspace, copyout, egress, provenance, selection...).
"""
