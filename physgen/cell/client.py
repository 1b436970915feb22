"""A PyBullet client whose functions are looked up once.

``pybullet_utils``' ``BulletClient`` looks every attribute up anew and wraps every function in a
new ``functools.partial`` (a ``getattr``, an ``inspect`` check and the partial: about a microsecond,
thousands of times per episode). :class:`Client` keeps what it found (bound functions, constants)
after the first use; calls are unchanged.
"""

from __future__ import annotations

from physgen.cell.quiet import c_output_silenced

with c_output_silenced():
    import pybullet
    from pybullet_utils import bullet_client


class Client(bullet_client.BulletClient):
    """A ``BulletClient`` that remembers the functions it has bound to its physics client id."""

    def __getattr__(self, name: str):
        attribute = super().__getattr__(name)
        if name != "disconnect":  # disconnecting also forgets the client id: looked up every time
            self.__dict__[name] = attribute  # found by ordinary lookup from now on
        return attribute


def connect(mode: int = pybullet.DIRECT) -> Client:
    """A new physics server of its own (``pybullet.DIRECT`` or ``pybullet.GUI``), banners silenced."""
    with c_output_silenced():
        return Client(connection_mode=mode)
