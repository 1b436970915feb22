"""The planner: motion primitives to joint trajectories (IK, timing, the safety screen), and the
:class:`~physgen.motion.primitives.Hardware` contract it drives, simulated or real."""
