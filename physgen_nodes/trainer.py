"""What the SFT and GRPO nodes share: run one training job from parameters on a thread, publish its
progress and checkpoints, stop cleanly on shutdown.

Records out (JSON in ``std_msgs/String``): ``training/progress`` ``{"job", "step", "max_steps",
"logs"}`` at every trainer log, ``training/checkpoint`` ``{"job", "step", "path"}`` after every save,
``training/done`` ``{"job", "ok", "model", "error"}`` at the end. On shutdown (Ctrl-C, SIGTERM from
``ros2 launch``) the job saves a checkpoint at the end of the current step and stops; started again
with the same parameters it resumes from there. With ``exit_when_done`` the node ends its process
when the job is done (status 0, or 1 if it failed; 130 when it was stopped at a checkpoint).
"""

from __future__ import annotations

import threading
from pathlib import Path

from rclpy.node import Node
from std_msgs.msg import String

from physgen_nodes.conversions import record_msg
from physgen_nodes.exits import INTERRUPTED
from physgen_nodes.runner import wait_acked


def progress_callback(node: TrainerNode):
    from transformers import TrainerCallback

    class RosProgress(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            node.publish("training/progress", {"step": state.global_step, "max_steps": state.max_steps,
                                               "logs": logs or {}})

        def on_save(self, args, state, control, **kwargs):
            path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            node.publish("training/checkpoint", {"step": state.global_step, "path": str(path)})

        def on_step_end(self, args, state, control, **kwargs):
            if node.stop.is_set():
                control.should_save = True
                control.should_training_stop = True

    return RosProgress()


class TrainerNode(Node):
    """Base of the trainer nodes: subclasses set ``job`` (a name) and implement :meth:`train`."""

    job = ""

    def __init__(self, name: str, **kwargs):
        super().__init__(name, **kwargs)
        self.stop = threading.Event()
        self.done = threading.Event()
        self.exit_code: int | None = None
        self.model: Path | None = None
        self.exit_when_done = True
        self._pubs = {t: self.create_publisher(String, t, 10)
                      for t in ("training/progress", "training/checkpoint", "training/done")}
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Check the model (a bad one is a ConfigError now: exit status 2), then run the job on its thread."""
        from physgen.models.recipes import check_model

        check_model(self.run_config.model)
        self._thread = threading.Thread(target=self._main, name=self.job, daemon=True)
        self._thread.start()

    def train(self, callbacks: list) -> Path:
        raise NotImplementedError

    def publish(self, topic: str, payload: dict) -> None:
        try:
            self._pubs[topic].publish(record_msg(topic.replace("/", "_"), {"job": self.job, **payload}))
        except RuntimeError:  # rclpy's RCLError: the context went down under a shutdown
            if self.context.ok():
                raise

    def _main(self) -> None:
        try:
            self.model = self.train([progress_callback(self)])
            self.exit_code = 0 if self.model is not None else INTERRUPTED  # stopped at a checkpoint
            self.publish("training/done", {"ok": self.model is not None, "model": str(self.model or ""),
                                           "error": "" if self.model else "stopped before the last step"})
        except Exception as e:  # noqa: BLE001 - reported, and the process exits non-zero
            self.get_logger().error(f"{self.job} failed: {e!r}")
            self.exit_code = 1
            self.publish("training/done", {"ok": False, "model": "", "error": repr(e)})
        finally:
            wait_acked(*self._pubs.values())  # training/done reaches every subscriber before the node exits
            self.done.set()
            if self.exit_when_done and not self.stop.is_set():
                self.context.try_shutdown()

    def destroy_node(self) -> None:
        self.stop.set()
        # not from the job's own thread: its context shutdown (exit_when_done) destroys the node there
        if self._thread is not None and self._thread.is_alive() and self._thread is not threading.current_thread():
            self.get_logger().info(f"stopping {self.job}: saving a checkpoint at the end of this step")
            self._thread.join(timeout=600)
        super().destroy_node()
