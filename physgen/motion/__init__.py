"""The planner: motion primitives to joint trajectories (IK, timing, the safety screen), and the
:class:`~physgen.motion.hardware.Hardware` contract it drives, simulated or real."""
