"""rosbag2 (MCAP) recording, reading and repair, ROS-free (the pip package ``rosbags``)."""

from physgen.recording.bag import BagError, BagWriter, bag_info, deserialize, read_bag, repair, scan_mcap

__all__ = ["BagError", "BagWriter", "bag_info", "deserialize", "read_bag", "repair", "scan_mcap"]
